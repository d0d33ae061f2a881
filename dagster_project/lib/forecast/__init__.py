"""Demand forecasting: daily sales per category, the seed's seasonal-variation method (weekday
seasonal index, holiday multipliers), a global LightGBM model next to seasonal naive and ETS,
a rolling-origin backtest, and demand dips with the customers to target for each."""
