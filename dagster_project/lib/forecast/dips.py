"""Demand dips (the seed's flow: forecast dip -> preference targeting): upcoming days whose
forecast falls below a share of the category's usual level (its trailing 28-day mean), and for
each the customers with the highest preference index for that category."""

from __future__ import annotations

import polars as pl

DIP_THRESHOLD = 0.85  # a forecast under 85 % of the usual day: below every planted weekday dip
TARGETS_PER_DIP = 200


def demand_dips(ahead: pl.DataFrame, threshold: float = DIP_THRESHOLD) -> pl.DataFrame:
    """From forecast_ahead rows: one row per series and day with forecast < threshold x usual
    (dip_ratio = forecast / usual)."""
    return (
        ahead.filter(pl.col("usual") > 0)
        .with_columns(dip_ratio=pl.col("forecast") / pl.col("usual"))
        .filter(pl.col("dip_ratio") < threshold)
        .select(
            pl.col("series").alias("category_l1"),
            "date",
            "horizon",
            "forecast",
            "forecast_high",
            pl.col("usual").alias("usual_level"),
            "dip_ratio",
        )
        .sort("date", "category_l1")
    )


def dip_targets(
    dips: pl.DataFrame, preference: pl.DataFrame, per_dip: int = TARGETS_PER_DIP
) -> pl.DataFrame:
    """One row per dip and targeted customer: the ``per_dip`` customers with the highest
    preference_index for the dip's category (gold.customer_category_preference rows), ties
    broken by customer_id so reruns pick the same people. Without a preference index (an
    orders-only export has no categories) there is no one to target: no rows."""
    if "preference_index" not in preference.columns:
        preference = pl.DataFrame(
            schema={
                "customer_id": pl.String,
                "category_l1": pl.String,
                "preference_index": pl.Float64,
            }
        )
    top = (
        preference.select("customer_id", "category_l1", "preference_index")
        .sort(["category_l1", "preference_index", "customer_id"], descending=[False, True, False])
        .with_columns(target_rank=pl.int_range(1, pl.len() + 1).over("category_l1"))
        .filter(pl.col("target_rank") <= per_dip)
    )
    return (
        dips.select("category_l1", "date", "dip_ratio")
        .join(top, on="category_l1", how="inner")
        .sort("date", "category_l1", "target_rank")
    )
