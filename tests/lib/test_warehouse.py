"""Warehouse helpers on a small DuckDB table built here."""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from dagster_project.lib.warehouse import newest_snapshots


def test_newest_snapshots_is_each_customers_latest_row_whatever_the_row_order() -> None:
    snapshots = pl.DataFrame(
        {
            "customer_id": ["C2", "C1", "C1", "C3", "C2", "C1"],
            "snapshot_date": [
                date(2025, 1, 3),
                date(2025, 1, 2),
                date(2025, 1, 5),
                date(2025, 1, 1),
                date(2025, 1, 1),
                date(2025, 1, 4),
            ],
            "orders_to_date": [2, 1, 3, 0, 1, 2],
        }
    )
    con = duckdb.connect()
    con.execute("create schema gold")
    con.register("snapshots", snapshots)
    con.execute("create table gold.feat_customer__daily as select * from snapshots")
    newest = con.sql(f"{newest_snapshots()} order by customer_id").pl()
    assert newest.rows() == [
        ("C1", date(2025, 1, 5), 3),
        ("C2", date(2025, 1, 3), 2),
        ("C3", date(2025, 1, 1), 0),
    ]
