"""The forecasters: a global LightGBM model over all series (point forecast plus the 10th and
90th percentiles by quantile objectives, widened by split-conformal calibration on the newest
weeks before the cutoff), the statistical reference (statsmodels ETS: additive damped trend and
weekly season, per series) and seasonal naive (in the rows, see features.forecast_rows)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import polars as pl

from dagster_project.lib.forecast.features import FEATURES

QUANTILES = (0.1, 0.9)  # an 80 % prediction interval
NOMINAL_COVERAGE = QUANTILES[1] - QUANTILES[0]
# The interval is widened on this many of the newest origins before the cutoff, held out of a
# first fit: in-sample quantiles are too narrow (the trees have seen those days).
CALIBRATION_DAYS = 56


@dataclass(frozen=True)
class ForecastParams:
    # Small trees and many rows per leaf: daily category sales are noisy (a WAPE near 20 %).
    rounds: int = 200
    learning_rate: float = 0.03
    num_leaves: int = 15
    min_data_in_leaf: int = 200
    seed: int = 0

    def lgb_params(self, objective: str, alpha: float | None = None) -> dict:
        params = {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": 0.9,
            "bagging_fraction": 0.9,
            "bagging_freq": 1,
            "seed": self.seed,
            "deterministic": True,
            # One thread: on a shared 2-core machine two OpenMP threads spin against each other
            # (a fit took 24 s instead of 6 under load, with the same forecasts to the bit).
            "num_threads": 1,
            "verbose": -1,
        }
        if alpha is not None:
            params["alpha"] = alpha
        return params


@dataclass
class GlobalModel:
    """Boosters on the target ratio (sales / level): `point` (L1: the median, which is what
    MASE and WAPE reward; daily revenue is right-skewed, so the mean over-forecasts most days)
    and one per quantile, and the conformal widening (in ratio units) added to each side of the
    interval."""

    boosters: dict[str, lgb.Booster]
    widen: float = 0.0
    importance: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, rows: pl.DataFrame, params: ForecastParams | None = None) -> GlobalModel:
        """Fit on rows with a known target; the last CALIBRATION_DAYS of target dates calibrate
        the interval (conformalised quantile regression), then every row refits the boosters."""
        params = params or ForecastParams()
        train = rows.filter(pl.col("target_ratio").is_not_null())
        last = train["target_date"].max()
        early = train.filter(pl.col("target_date") <= last - pl.duration(days=CALIBRATION_DAYS))
        held = train.filter(pl.col("target_date") > last - pl.duration(days=CALIBRATION_DAYS))
        widen = 0.0
        if early.height and held.height:
            first = _boosters(early, params, quantiles_only=True)
            low, high = (
                first[f"q{q}"].predict(held.select(FEATURES).to_numpy()) for q in QUANTILES
            )
            y = held["target_ratio"].to_numpy()
            scores = np.maximum(low - y, y - high)
            level = min(1.0, np.ceil((len(y) + 1) * NOMINAL_COVERAGE) / len(y))
            widen = float(np.quantile(scores, level, method="higher"))
        boosters = _boosters(train, params, quantiles_only=False)
        gain = boosters["point"].feature_importance("gain")
        return cls(boosters, widen, dict(zip(FEATURES, (gain / gain.sum()).tolist(), strict=True)))

    def predict(self, rows: pl.DataFrame) -> pl.DataFrame:
        """forecast, forecast_low, forecast_high (sales units of the measure, >= 0)."""
        x = rows.select(FEATURES).to_numpy()
        level = rows["level"].fill_null(0.0).to_numpy()
        point = self.boosters["point"].predict(x)
        low = self.boosters[f"q{QUANTILES[0]}"].predict(x) - self.widen
        high = self.boosters[f"q{QUANTILES[1]}"].predict(x) + self.widen
        ordered = np.sort(np.stack([low, point, high]), axis=0)  # quantile crossing
        return rows.with_columns(
            pl.Series(name, np.clip(values * level, 0.0, None))
            for name, values in zip(
                ("forecast_low", "forecast", "forecast_high"), ordered, strict=True
            )
        )


def _boosters(rows: pl.DataFrame, params: ForecastParams, quantiles_only: bool) -> dict:
    data = lgb.Dataset(
        rows.select(FEATURES).to_numpy(),
        rows["target_ratio"].to_numpy(),
        feature_name=FEATURES,
        categorical_feature=["series_code"],
        free_raw_data=False,
    )
    objectives = {f"q{q}": ("quantile", q) for q in QUANTILES}
    if not quantiles_only:
        objectives["point"] = ("regression_l1", None)
    return {
        name: lgb.train(params.lgb_params(obj, alpha), data, num_boost_round=params.rounds)
        for name, (obj, alpha) in objectives.items()
    }


def ets_forecasts(
    history: np.ndarray, origins: list[int], horizon: int, fit_until: int
) -> np.ndarray:
    """ETS (additive error, additive damped trend, additive weekly season; statsmodels) fitted
    once on history[:fit_until + 1], then run with those parameters from each origin (an index
    into history) for ``horizon`` days: an array (len(origins), horizon), clipped at 0."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    def model(y: np.ndarray) -> ETSModel:
        return ETSModel(
            y, error="add", trend="add", damped_trend=True, seasonal="add", seasonal_periods=7
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on flat or sparse series
        fitted = model(history[: fit_until + 1]).fit(disp=False)
        out = np.vstack(
            [
                model(history[: origin + 1]).smooth(fitted.params).forecast(horizon)
                for origin in origins
            ]
        )
    return np.clip(out, 0.0, None)
