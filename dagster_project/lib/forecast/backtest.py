"""Rolling-origin backtest and the forward forecast.

Every day of the last ``eval_days`` is a forecast origin, forecasting 1..28 days ahead. Models
are refitted every ``refit_days`` on what was known at that cutoff (targets up to the cutoff);
origins until the next refit use that model with features up to the origin, as a model in
production is refitted on a schedule and fed fresh sales daily. ETS is refitted at the same
cutoffs and run from each origin with those parameters. MASE divides the mean absolute error
by the in-sample mean absolute error of the weekly naive forecast before the first origin;
WAPE is the sum of absolute errors over the sum of actual sales."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from dagster_project.lib.forecast import seasonal
from dagster_project.lib.forecast.features import USUAL_DAYS, forecast_rows, origin_states
from dagster_project.lib.forecast.models import (
    NOMINAL_COVERAGE,
    ForecastParams,
    GlobalModel,
    ets_forecasts,
)

METHODS = ("lightgbm", "ets", "seasonal_naive")
REPORT_HORIZONS = (1, 7, 28)
MAX_HORIZON = 28


@dataclass
class BacktestResult:
    measure: str
    predictions: pl.DataFrame  # one row per series, origin and horizon
    metrics: pl.DataFrame  # one row per series, horizon and method: mase, wape
    coverage: pl.DataFrame  # one row per horizon (and 0 = all): coverage of the interval
    seconds: dict[str, float]

    @property
    def overall_coverage(self) -> float:
        return float(self.coverage.filter(pl.col("horizon") == 0)["coverage"][0])

    def summary(self) -> pl.DataFrame:
        return summarize(self.metrics)


def summarize(metrics: pl.DataFrame) -> pl.DataFrame:
    """Per method and horizon of backtest metrics (gold.demand_forecast_backtest rows): mean
    MASE and WAPE over series, series where the method beats seasonal naive on MASE."""
    naive = metrics.filter(pl.col("method") == "seasonal_naive").select(
        "series", "horizon", pl.col("mase").alias("naive_mase")
    )
    return (
        metrics.join(naive, on=["series", "horizon"])
        .group_by("method", "horizon")
        .agg(
            pl.col("mase").mean(),
            pl.col("wape").mean(),
            (pl.col("mase") < pl.col("naive_mase")).sum().alias("series_beating_naive"),
            pl.len().alias("series"),
        )
        .sort(
            "horizon",
            pl.col("method").replace_strict(
                {m: i for i, m in enumerate(METHODS)}, return_dtype=pl.Int8
            ),
        )
    )


def model_calendar(
    first: date, last: date, holidays: pl.DataFrame, weather: pl.DataFrame | None
) -> pl.DataFrame:
    """Holidays (from calendar.holiday_calendar over [first, last]) with the national weather
    columns when there is weather."""
    cal = holidays.filter(pl.col("date").is_between(first, last))
    if weather is not None:
        cal = cal.join(weather, on="date", how="left")
    return cal


def _series_codes(daily: pl.DataFrame) -> dict[str, int]:
    return {s: i for i, s in enumerate(sorted(daily["series"].unique().to_list()))}


def _fit_at(
    daily: pl.DataFrame,
    states: pl.DataFrame,
    measure: str,
    calendar: pl.DataFrame,
    cutoff: date,
    codes: dict[str, int],
    params: ForecastParams,
) -> tuple[GlobalModel, pl.DataFrame]:
    """The model fitted on what was known at ``cutoff``, and the weekday index it uses."""
    known = daily.filter(pl.col("date") <= cutoff)
    holiday_dates = calendar.filter("is_holiday")["date"]
    index = seasonal.weekday_index(known, measure, holiday_dates)
    first = known["date"].min() + timedelta(days=USUAL_DAYS - 1)
    origins = known.filter(pl.col("date").is_between(first, cutoff - timedelta(days=1))).select(
        "series", "date"
    )
    rows = forecast_rows(states, origins, range(1, MAX_HORIZON + 1), calendar, index, codes)
    rows = rows.filter(pl.col("target_date") <= cutoff)
    return GlobalModel.fit(rows, params), index


def _mase_scale(daily: pl.DataFrame, measure: str, before: date) -> pl.DataFrame:
    return (
        daily.filter(pl.col("date") < before)
        .sort("series", "date")
        .with_columns(diff=(pl.col(measure) - pl.col(measure).shift(7)).abs().over("series"))
        .group_by("series")
        .agg(scale=pl.col("diff").mean())
    )


def run_backtest(
    daily: pl.DataFrame,
    measure: str,
    calendar: pl.DataFrame,
    eval_days: int = 84,
    refit_days: int = 28,
    params: ForecastParams | None = None,
) -> BacktestResult:
    """Backtest ``measure`` of ``daily`` (daily.complete_days frames) with ``calendar``
    (model_calendar) over the last ``eval_days`` origins."""
    params = params or ForecastParams()
    last = daily["date"].max()
    first_origin = last - timedelta(days=eval_days)
    if first_origin - daily["date"].min() < timedelta(days=USUAL_DAYS + 2 * MAX_HORIZON):
        raise ValueError(
            f"{(last - daily['date'].min()).days + 1} days of sales: the backtest needs at "
            f"least {USUAL_DAYS + 2 * MAX_HORIZON + eval_days + 1} ({eval_days} to evaluate)"
        )
    states = origin_states(daily, measure)
    codes = _series_codes(daily)
    seconds = {"lightgbm": 0.0, "ets": 0.0}
    blocks = []
    cutoff = first_origin
    while cutoff < last:
        started = time.perf_counter()
        model, index = _fit_at(daily, states, measure, calendar, cutoff, codes, params)
        block_end = min(cutoff + timedelta(days=refit_days), last)
        origins = states.filter(pl.col("date").is_between(cutoff, block_end - timedelta(days=1)))
        rows = forecast_rows(
            states,
            origins.select("series", "date"),
            range(1, MAX_HORIZON + 1),
            calendar,
            index,
            codes,
        ).filter(pl.col("target_date") <= last)
        block = model.predict(rows).rename({"forecast": "lightgbm"})
        seconds["lightgbm"] += time.perf_counter() - started
        started = time.perf_counter()
        block = block.join(
            _ets_block(states, cutoff, block_end), on=["series", "origin", "horizon"]
        )
        seconds["ets"] += time.perf_counter() - started
        blocks.append(block)
        cutoff = block_end
    predictions = pl.concat(blocks).sort("series", "origin", "horizon")
    return BacktestResult(
        measure,
        predictions,
        _metrics(predictions, _mase_scale(daily, measure, first_origin)),
        _coverage(predictions),
        seconds,
    )


def _ets_block(states: pl.DataFrame, cutoff: date, block_end: date) -> pl.DataFrame:
    parts = []
    for (series,), frame in states.sort("date").group_by("series", maintain_order=True):
        dates = frame["date"]
        positions = np.flatnonzero(((dates >= cutoff) & (dates < block_end)).to_numpy()).tolist()
        fit_until = int(np.flatnonzero((dates == cutoff).to_numpy())[0])
        values = ets_forecasts(frame["y"].to_numpy(), positions, MAX_HORIZON, fit_until)
        parts.append(
            pl.DataFrame(
                {
                    "series": series,
                    "origin": np.repeat(dates.gather(positions).to_numpy(), MAX_HORIZON),
                    "horizon": np.tile(np.arange(1, MAX_HORIZON + 1), len(positions)),
                    "ets": values.ravel(),
                }
            ).with_columns(pl.col("origin").cast(pl.Date), pl.col("horizon").cast(pl.Int64))
        )
    return pl.concat(parts)


def _metrics(predictions: pl.DataFrame, scale: pl.DataFrame) -> pl.DataFrame:
    long = (
        predictions.filter(pl.col("horizon").is_in(REPORT_HORIZONS))
        .unpivot(
            on=list(METHODS),
            index=["series", "horizon", "actual"],
            variable_name="method",
            value_name="forecast",
        )
        .join(scale, on="series")
        .with_columns(abs_error=(pl.col("forecast") - pl.col("actual")).abs())
    )
    return (
        long.group_by("series", "horizon", "method")
        .agg(
            mase=pl.col("abs_error").mean() / pl.col("scale").first(),
            wape=pl.col("abs_error").sum() / pl.col("actual").abs().sum(),
            origins=pl.len(),
        )
        .sort("series", "horizon", "method")
    )


def _coverage(predictions: pl.DataFrame) -> pl.DataFrame:
    inside = pl.col("actual").is_between(pl.col("forecast_low"), pl.col("forecast_high"))
    by_horizon = predictions.group_by("horizon").agg(coverage=inside.mean(), rows=pl.len())
    overall = predictions.select(
        pl.lit(0, pl.Int64).alias("horizon"),
        inside.mean().alias("coverage"),
        pl.len().alias("rows"),
    )
    return (
        pl.concat([overall, by_horizon.cast({"horizon": pl.Int64, "rows": pl.UInt32})])
        .with_columns(nominal=pl.lit(NOMINAL_COVERAGE))
        .sort("horizon")
    )


def forecast_ahead(
    daily: pl.DataFrame,
    measure: str,
    calendar: pl.DataFrame,
    horizon: int,
    params: ForecastParams | None = None,
) -> pl.DataFrame:
    """Fit on every day and forecast ``horizon`` days past the last one: one row per series and
    day with forecast, forecast_low, forecast_high (80 %), seasonal_naive and level (the
    trailing 28-day mean at the last day)."""
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be between 1 and {MAX_HORIZON} days, got {horizon}")
    last = daily["date"].max()
    states = origin_states(daily, measure)
    codes = _series_codes(daily)
    model, index = _fit_at(
        daily, states, measure, calendar, last, codes, params or ForecastParams()
    )
    rows = forecast_rows(
        states,
        states.filter(pl.col("date") == last).select("series", "date"),
        range(1, horizon + 1),
        calendar,
        index,
        codes,
    )
    return model.predict(rows).select(
        "series",
        pl.col("target_date").alias("date"),
        "horizon",
        "forecast",
        "forecast_low",
        "forecast_high",
        "seasonal_naive",
        "usual",
        "holiday_code",
    )
