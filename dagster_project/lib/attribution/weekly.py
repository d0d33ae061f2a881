"""Incremental credit by week: the incrementality-aware model's (holdout-calibrated) credit per
channel, summed by the business week of each conversion, the input of the budget's response
curves (weekly spend against what that spend caused, not last-click credit)."""

from __future__ import annotations

import numpy as np
import polars as pl

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
