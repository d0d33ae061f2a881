"""Real retail orders that ship inside a PyPI package, for backtests: CDNOW (Fader and Hardie's
CD retailer data, 23,570 customers who first bought in Q1 1997, their 69,659 purchase records
through June 1998), bundled with the `lifetimes` library as ``datasets/CDNOW_master.txt``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl


def cdnow_path() -> Path:
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the lifetimes package is not installed")
    # Read by path: importing lifetimes.datasets needs pkg_resources, absent from setuptools 81+.
    return Path(spec.submodule_search_locations[0]) / "datasets" / "CDNOW_master.txt"


def cdnow_orders() -> pl.DataFrame:
    """CDNOW as orders: customer_id, ordered_at (the purchase date, midnight), order_amount (USD
    as recorded; the models are unit-free)."""
    # Fixed-width with runs of spaces and CRLF line ends: split each line on whitespace.
    lines = pl.read_csv(
        cdnow_path(), has_header=False, separator="\t", new_columns=["line"], skip_rows=1
    )
    fields = lines.select(
        pl.col("line")
        .str.strip_chars()
        .str.extract_groups(r"^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)$")
        .struct.rename_fields(["customer_id", "date", "number_of_cds", "order_amount"])
    ).unnest("line")
    return fields.select(
        "customer_id",
        pl.col("date").str.to_datetime("%Y%m%d", time_unit="us").alias("ordered_at"),
        pl.col("order_amount").cast(pl.Float64).alias("order_amount"),
    )
