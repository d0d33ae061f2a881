"""Markdown summaries of segment tables for the Dagster UI: counts with text bars."""

from __future__ import annotations

import polars as pl

from dagster_project.lib.warehouse import markdown_table

BAR_WIDTH = 30


def share_table(frame: pl.DataFrame, column: str, order: list[str] | None = None) -> str:
    """Customers per value of `column` with their share and a text bar."""
    counts = (
        frame.group_by(column)
        .agg(customers=pl.len())
        .with_columns(share=pl.col("customers") / pl.col("customers").sum())
    )
    if order:
        rank = {v: i for i, v in enumerate(order)}
        counts = (
            counts.with_columns(_o=pl.col(column).replace_strict(rank, default=len(rank)))
            .sort("_o", column)
            .drop("_o")
        )
    else:
        counts = counts.sort("customers", descending=True)
    peak = max(counts["share"].max() or 1.0, 1e-9)
    counts = counts.with_columns(
        bar=pl.col("share").map_elements(
            lambda s: "█" * max(1, round(BAR_WIDTH * s / peak)) if s > 0 else "",
            return_dtype=pl.String,
        ),
        share=(pl.col("share") * 100).round(1).cast(pl.String) + " %",
    )
    return markdown_table(counts)
