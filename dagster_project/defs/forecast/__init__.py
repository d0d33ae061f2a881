"""Demand forecasting assets: daily category sales, the forecast with its backtest, and the
upcoming demand dips with the customers to target."""
