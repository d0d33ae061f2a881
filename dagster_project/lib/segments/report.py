"""Summaries of segment tables for asset pages and the report: customers per value."""

from __future__ import annotations

import polars as pl


def shares(frame: pl.DataFrame, column: str, order: list[str] | None = None) -> pl.DataFrame:
    """Customers per value of `column` and their share, in `order` (values it does not name
    after it), else largest first."""
    counts = (
        frame.group_by(column)
        .agg(customers=pl.len())
        .with_columns(customer_share=pl.col("customers") / pl.col("customers").sum())
    )
    if not order:
        return counts.sort("customers", column, descending=[True, False])
    rank = {v: i for i, v in enumerate(order)}
    return (
        counts.with_columns(_o=pl.col(column).replace_strict(rank, default=len(rank)))
        .sort("_o", column)
        .drop("_o")
    )
