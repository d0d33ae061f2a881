"""Landing mirrors the export folder: a file that is gone takes its rows with it, and the same
rows under another file name are the same rows (never counted twice)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dagster_project.lib.ingest import land_table
from dagster_project.lib.warehouse import connect
from tests.conftest import build_warehouse, query

# Bronze only: cautious, so dbt leaves out the tests that also read silver.
BRONZE = ("--select", "path:models/bronze", "--indirect-selection", "cautious")
# An orders-only export without order ids: bronze derives them from the rows' content. Two rows
# are identical on purpose (two real orders), so one file's duplicates must survive.
ORDERS = pl.DataFrame(
    {
        "customer_id": ["c1", "c2", "c1", "c3", "c3"],
        "ordered_at": ["2025-05-01T10:00:00Z", "2025-05-02T11:00:00Z", "2025-05-09T09:00:00Z"]
        + ["2025-05-10T09:00:00Z"] * 2,
        "order_amount": ["12000", "8000", "5000", "3000", "3000"],
    }
)


def bronze_orders(db: Path) -> tuple[int, float, int]:
    """Orders and revenue in bronze, and orders quarantined as duplicate keys."""
    return query(
        db,
        "select (select count(*) from bronze.stg_raw__orders),"
        " (select sum(order_amount) from bronze.stg_raw__orders),"
        " (select count(*) from bronze.quarantine"
        "  where table_name = 'orders' and rule = 'order_id:duplicate_key')",
    )[0]


def test_an_export_renamed_to_parquet_replaces_its_rows(tmp_path: Path) -> None:
    raw, db = tmp_path / "raw", tmp_path / "w.duckdb"
    raw.mkdir()
    ORDERS.write_csv(raw / "orders.csv")
    build_warehouse(raw, db, *BRONZE).assert_ok()
    assert bronze_orders(db) == (5, 31000.0, 0)

    (raw / "orders.csv").unlink()
    ORDERS.write_parquet(raw / "orders.parquet")
    build_warehouse(raw, db, *BRONZE).assert_ok()
    assert bronze_orders(db) == (5, 31000.0, 0)
    assert query(db, "select distinct _source_file from landing.orders") == [("orders.parquet",)]
    assert query(db, "select source_file from landing._loads where table_name = 'orders'") == [
        ("orders.parquet",)
    ]


def test_the_same_rows_in_two_files_are_one_set_of_orders(tmp_path: Path) -> None:
    raw, db = tmp_path / "raw", tmp_path / "w.duckdb"
    raw.mkdir()
    ORDERS.write_csv(raw / "orders.csv")
    ORDERS.write_parquet(raw / "orders.parquet")
    build_warehouse(raw, db, *BRONZE).assert_ok()
    # Every row of the second file is a duplicate key of the first: quarantined, not revenue.
    assert bronze_orders(db) == (5, 31000.0, 5)


def test_a_customers_file_that_is_gone_stays_history(tmp_path: Path) -> None:
    """Customer rows are versions: deleting the file that carried an opt-out must not undo it."""
    raw = tmp_path / "raw"
    (raw / "customers").mkdir(parents=True)
    header = "customer_id,signed_up_at,marketing_opt_in,updated_at\n"
    (raw / "customers" / "base.csv").write_text(header + "c1,2025-01-01,true,2025-01-01\n")
    (raw / "customers" / "opt_out.csv").write_text(header + "c1,2025-01-01,false,2025-03-01\n")
    with connect(tmp_path / "w.duckdb") as con:
        land_table(con, raw, "customers")
        (raw / "customers" / "opt_out.csv").unlink()
        report = land_table(con, raw, "customers")
        kept = con.execute("select marketing_opt_in from landing.customers order by 1").fetchall()
    assert report.files_kept == {"customers/opt_out.csv": 1} and report.files_removed == {}
    assert kept == [("false",), ("true",)]
