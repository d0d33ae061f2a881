"""Daily sales per series (a product category, or `total` when orders come without order
lines), on a complete grid of days: a day without sales is a zero, not a missing row."""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

TOTAL = "total"
MEASURES = ("orders", "units", "revenue_krw")
DAILY_SCHEMA = {
    "series": pl.String,
    "date": pl.Date,
    "orders": pl.Int64,
    "units": pl.Int64,
    "revenue_krw": pl.Float64,
}


def complete_days(daily: pl.DataFrame, last: date | None = None) -> pl.DataFrame:
    """Every (series, day) from the first sales day to ``last`` (default: the last sales day),
    zeros where nothing sold."""
    if daily.is_empty():
        return pl.DataFrame(schema=DAILY_SCHEMA)
    days = pl.date_range(daily["date"].min(), last or daily["date"].max(), eager=True)
    grid = daily.select(pl.col("series").unique().sort()).join(
        pl.DataFrame({"date": days}), how="cross"
    )
    return (
        grid.join(daily, on=["series", "date"], how="left")
        .with_columns(pl.col(m).fill_null(0) for m in MEASURES)
        .select(DAILY_SCHEMA.keys())
        .cast(DAILY_SCHEMA)  # type: ignore[arg-type]
        .sort("series", "date")
    )


def daily_from_orders(orders: pl.DataFrame, time_zone: str) -> pl.DataFrame:
    """Orders-only sales (``read_orders`` frames: ordered_at naive UTC, order_amount_krw): one
    series `total`, revenue the order amount, units unknown (counted as one per order)."""
    local = pl.col("ordered_at").dt.replace_time_zone("UTC").dt.convert_time_zone(time_zone)
    daily = (
        orders.group_by(local.dt.date().alias("date"))
        .agg(
            pl.len().cast(pl.Int64).alias("orders"),
            pl.len().cast(pl.Int64).alias("units"),
            pl.col("order_amount_krw").sum().alias("revenue_krw"),
        )
        .with_columns(series=pl.lit(TOTAL))
    )
    return complete_days(daily)


def daily_from_warehouse(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per category from silver order lines (revenue = line amounts before order discounts);
    the `total` series from silver orders (paid amounts) when there are no order lines."""
    lines = con.sql("select count(*) from silver.int_order_lines__joined").fetchone()
    if lines and lines[0]:
        daily = con.sql(
            """
            select
                coalesce(category_l1, 'unknown') as series,
                order_date as date,
                count(distinct order_id) as orders,
                sum(quantity) as units,
                sum(line_amount_krw) as revenue_krw,
            from silver.int_order_lines__joined
            group by all
            """
        ).pl()
    else:
        daily = con.sql(
            f"""
            select
                '{TOTAL}' as series,
                order_date as date,
                count(*) as orders,
                count(*) as units,
                sum(order_amount_krw) as revenue_krw,
            from silver.int_orders__enriched
            group by all
            """
        ).pl()
    return complete_days(daily.cast(DAILY_SCHEMA))  # type: ignore[arg-type]


def daily_from_frames(
    orders: pl.DataFrame, order_items: pl.DataFrame, products: pl.DataFrame, time_zone: str
) -> pl.DataFrame:
    """Per category from raw simulator-shaped frames (orders with a UTC ordered_at, order_items,
    products): the same figures as ``daily_from_warehouse`` without building the warehouse."""
    local = pl.col("ordered_at").dt.convert_time_zone(time_zone).dt.date().alias("date")
    lines = (
        order_items.join(orders.select("order_id", local), on="order_id")
        .join(products.select("product_id", "category_l1"), on="product_id", how="left")
        .with_columns(pl.col("category_l1").fill_null("unknown").alias("series"))
    )
    daily = lines.group_by("series", "date").agg(
        pl.col("order_id").n_unique().cast(pl.Int64).alias("orders"),
        pl.col("quantity").sum().cast(pl.Int64).alias("units"),
        (pl.col("quantity") * pl.col("unit_price")).sum().cast(pl.Float64).alias("revenue_krw"),
    )
    return complete_days(daily)
