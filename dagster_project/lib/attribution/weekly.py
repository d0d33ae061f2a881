"""Incremental credit by week: the incrementality-aware model's (holdout-calibrated) credit per
channel, summed by the business week of each conversion, the input of the budget's response
curves (weekly spend against what that spend caused, not last-click credit)."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import norm

from dagster_project.lib.attribution.incrementality import IncrementalityResult
from dagster_project.lib.attribution.journeys import Journeys

WEEKLY_SCHEMA = {
    "week_start": pl.Date,
    "channel": pl.Utf8,
    "scope": pl.Utf8,
    "conversions": pl.Float64,
    "revenue": pl.Float64,
}


def weekly_credit(jr: Journeys, result: IncrementalityResult, timezone: str) -> pl.DataFrame:
    """One row per week (Monday of the conversion's business week in `timezone`), channel and
    scope (all, and the journey's own: first or repeat): the conversions and revenue the model
    credits to the channel's exposures (and its carry-over without a touch in the journey)."""
    n_j = jr.journeys.height
    conv = jr.journeys["converted"].to_numpy().astype(np.float64)
    rev = jr.journeys["revenue"].to_numpy().astype(np.float64)
    j, ch = jr.arrays()
    carried = np.zeros((n_j, jr.n_channels)) if result.carryover is None else result.carryover
    # journeys x channels share of each conversion: the touches' weights plus the carry-over
    share = carried.copy()
    np.add.at(share, (j, ch), result.weights)
    week = jr.journeys.select(
        week_start=pl.col("as_of").dt.convert_time_zone(timezone).dt.date().dt.truncate("1w"),
        scope=pl.col("scope"),
    )
    long = pl.DataFrame(
        {
            "row": np.repeat(np.arange(n_j), jr.n_channels),
            "channel": np.tile(np.array(jr.channels, dtype=object), n_j).astype(str),
            "conversions": (share * conv[:, None]).ravel(),
            "revenue": (share * rev[:, None]).ravel(),
        }
    ).filter(pl.col("conversions") > 0)
    long = long.with_columns(
        week_start=week["week_start"].gather(long["row"]), scope=week["scope"].gather(long["row"])
    )
    parts = [long.with_columns(scope=pl.lit("all")), long.filter(pl.col("scope").is_not_null())]
    return (
        pl.concat([p.select(list(WEEKLY_SCHEMA)) for p in parts])
        .group_by("week_start", "channel", "scope")
        .agg(pl.col("conversions").sum(), pl.col("revenue").sum())
        .sort("week_start", "channel", "scope")
    )


def weekly_orders(jr: Journeys, timezone: str) -> pl.DataFrame:
    """Total (not attributed) conversions and revenue per business week: every journey's
    conversion, whatever the channels that touched it."""
    return (
        jr.journeys.filter(pl.col("converted").cast(pl.Boolean))
        .select(
            week_start=pl.col("as_of").dt.convert_time_zone(timezone).dt.date().dt.truncate("1w"),
            revenue=pl.col("revenue").cast(pl.Float64),
        )
        .group_by("week_start")
        .agg(orders=pl.len().cast(pl.Float64), revenue=pl.col("revenue").sum())
        .sort("week_start")
    )


def flight_lift(
    spend: pl.DataFrame,
    orders: pl.DataFrame,
    confidence: float = 0.95,
    harmonics: int = 2,
    controls: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Flighted budgets as a natural experiment (a geo/lift test's reading, without the geo):
    weekly total orders regressed (OLS) on every paid channel's weekly spend at once, with a
    trend and `harmonics` yearly Fourier terms as controls. Each channel's coefficient times its
    total spend is its incremental orders over the window (linear in spend: the average effect
    over the weeks' spends, the on/off contrast the flighting makes), with a normal interval
    from the coefficient's standard error. `spend`: channel, week_start, spend; `orders`:
    week_start, orders (`weekly_orders`). One row per channel: measured, se, low, high,
    weeks, first_week, last_week (the weeks regressed). `controls`: week_start and numeric
    columns (e.g. CRM sends per week), more regressors; a week without a row gets 0."""
    wide = (
        spend.pivot(on="channel", index="week_start", values="spend", aggregate_function="sum")
        .fill_null(0.0)
        .join(orders.select("week_start", "orders"), on="week_start", how="inner")
        .sort("week_start")
    )
    channels = sorted(c for c in wide.columns if c not in ("week_start", "orders"))
    n = wide.height
    if n < len(channels) + 2 * harmonics + 4:
        raise ValueError(
            f"flight_lift: {n} weeks with both spend and orders, too few for "
            f"{len(channels)} channels and {harmonics} harmonics"
        )
    # drop the first and last weeks: partial business weeks of the window
    wide = wide.slice(1, n - 2)
    n = wide.height
    t = (wide["week_start"] - wide["week_start"].min()).dt.total_days().to_numpy() / 365.25
    ctrl = [np.ones(n), t - t.mean()]
    for k in range(1, harmonics + 1):
        ctrl += [np.sin(2 * np.pi * k * t), np.cos(2 * np.pi * k * t)]
    if controls is not None:
        extra = wide.select("week_start").join(controls, on="week_start", how="left").fill_null(0)
        for col in extra.columns[1:]:
            v = extra[col].to_numpy().astype(np.float64)
            ctrl.append(v - v.mean())
    x_spend = wide.select(channels).to_numpy().astype(np.float64)
    scale = x_spend.mean(axis=0)
    scale[scale == 0] = 1.0
    x = np.column_stack([x_spend / scale, *ctrl])
    y = wide["orders"].to_numpy().astype(np.float64)
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    dof = max(n - x.shape[1], 1)
    cov = np.linalg.pinv(x.T @ x) * float(resid @ resid) / dof
    z = float(norm.ppf(0.5 + confidence / 2))
    k = len(channels)
    # total incremental orders = coefficient per mean-spend unit x weeks x (mean spend = 1 unit)
    total = x_spend.sum(axis=0) / scale
    measured = beta[:k] * total
    se = np.sqrt(np.diag(cov)[:k]) * total
    return pl.DataFrame(
        {
            "channel": channels,
            "measured": measured,
            "se": se,
            "low": measured - z * se,
            "high": measured + z * se,
            "weeks": [n] * k,
            "first_week": [wide["week_start"].min()] * k,
            "last_week": [wide["week_start"].max()] * k,
        }
    )


def calibrate_weekly(credit: pl.DataFrame, lift: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Calibrate each channel's weekly credit by a measured incremental-orders total over the
    same weeks (`flight_lift`), the rule of `incrementality.calibrate` for holdouts: a conclusive
    measurement (interval excludes zero) is the target, an inconclusive one only bounds the
    model's credit to its interval; never below zero. The channel's conversions and revenue of
    every week and scope are scaled by target / model. Returns the calibrated credit and the
    per-channel table (model, measured, low, high, target, factor)."""
    if lift.is_empty():
        return credit, lift
    model = (
        credit.filter(
            pl.col("scope") == "all",
            pl.col("channel").is_in(lift["channel"].to_list()),
            pl.col("week_start").is_between(lift["first_week"][0], lift["last_week"][0]),
        )
        .group_by("channel")
        .agg(model=pl.col("conversions").sum())
    )
    table = (
        lift.join(model, on="channel", how="left")
        .with_columns(pl.col("model").fill_null(0.0))
        .with_columns(
            target=pl.when((pl.col("low") > 0) | (pl.col("high") < 0))
            .then(pl.col("measured"))
            .otherwise(pl.col("model").clip(pl.col("low"), pl.col("high")))
            .clip(lower_bound=0.0)
        )
        .with_columns(
            factor=pl.when(pl.col("model") > 1e-9)
            .then(pl.col("target") / pl.col("model"))
            .otherwise(1.0)
        )
        .sort("channel")
    )
    factor = dict(zip(table["channel"], table["factor"], strict=True))
    f = pl.col("channel").replace_strict(factor, default=1.0, return_dtype=pl.Float64)
    out = credit.with_columns(pl.col("conversions") * f, pl.col("revenue") * f)
    return out, table
