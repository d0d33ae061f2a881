"""Attribution: journeys, the standard models, the incrementality-aware model and the check
against the simulator's truth. Pure Python (Polars, numpy, scipy, LightGBM); no Dagster."""
