"""The behaviour the product features learn from: product events before a cutoff, with the product
attributes joined, and the catalogue with its fallbacks filled (docs/products.md)."""

from __future__ import annotations

from datetime import datetime

import polars as pl

# How much an event says about a customer's taste, relative to a view.
EVENT_WEIGHT = {"view": 1.0, "bookmark": 2.0, "add_to_cart": 3.0, "purchase": 5.0}
UNKNOWN = "unknown"
RECENCY_HALF_LIFE_DAYS = 14.0
POPULARITY_DAYS = 28
BANDS = ("low", "mid", "high")


def catalogue(products: pl.DataFrame) -> pl.DataFrame:
    """product_id, seller_id, category_l1, style, price, price_band. A product without a style or
    category gets "unknown" (it then competes only with other unknowns in rule a/b/c and falls back
    to popularity); a product without a price has no band ("mid")."""
    band = (pl.col("price").rank("ordinal").over("category_l1") * 3) // (
        pl.col("price").count().over("category_l1") + 1
    )
    return products.select(
        "product_id",
        pl.col("seller_id").fill_null(UNKNOWN),
        pl.col("category_l1").fill_null(UNKNOWN),
        pl.col("style").fill_null(UNKNOWN),
        "price",
    ).with_columns(
        price_band=pl.when(pl.col("price").is_null())
        .then(pl.lit("mid"))
        .otherwise(pl.lit(pl.Series(BANDS)).gather(band.clip(0, 2).fill_null(1).cast(pl.Int64)))
    )


def interactions(events: pl.DataFrame, products: pl.DataFrame, cutoff: datetime) -> pl.DataFrame:
    """One row per product event before ``cutoff``: customer_id, product_id, occurred_at,
    event_type, weight (event weight x recency decay to the cutoff), and the product's attributes.
    Events of products missing from the catalogue are kept with "unknown" attributes."""
    age_days = (pl.lit(cutoff) - pl.col("occurred_at")).dt.total_seconds() / 86_400
    ev = events.filter(
        pl.col("product_id").is_not_null(),
        pl.col("event_type").is_in(list(EVENT_WEIGHT)),
        pl.col("occurred_at") < cutoff,
    ).select(
        "customer_id",
        "product_id",
        "occurred_at",
        "event_type",
        weight=pl.col("event_type").replace_strict(EVENT_WEIGHT, return_dtype=pl.Float64)
        * (0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS)),
        age_days=age_days,
    )
    return ev.join(catalogue(products), on="product_id", how="left").with_columns(
        pl.col("seller_id", "category_l1", "style").fill_null(UNKNOWN),
        pl.col("price_band").fill_null("mid"),
    )


def popularity(inter: pl.DataFrame) -> pl.DataFrame:
    """product_id, its attributes, popularity: event weights (undecayed), last POPULARITY_DAYS."""
    return (
        inter.filter(pl.col("age_days") <= POPULARITY_DAYS)
        .group_by("product_id", "category_l1", "seller_id", "style", "price_band")
        .agg(
            popularity=pl.col("event_type")
            .replace_strict(EVENT_WEIGHT, return_dtype=pl.Float64)
            .sum()
        )
        .sort("popularity", "product_id", descending=[True, False])
    )
