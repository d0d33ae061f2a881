"""The minimal export (orders with customer_id, ordered_at, order_amount only) builds every silver
and gold model, passes every dbt test, and gives hand-checked daily features."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tests.conftest import DbtRun, query

# K1's orders by business date (Asia/Seoul): 03-01, 03-15, 03-16 (00:30 KST is still 03-15 in UTC),
# 04-10. orders_30d on D counts the orders dated D-29 .. D.
K1_ORDERS_30D = {
    "2025-03-01": 1,
    "2025-03-14": 1,
    "2025-03-15": 2,
    "2025-03-16": 3,
    "2025-03-30": 3,  # 03-01 is still inside (D - 29)
    "2025-03-31": 2,
    "2025-04-10": 3,
    "2025-04-14": 2,
    "2025-04-15": 1,
    "2025-04-20": 1,
}


def test_every_model_builds_and_every_test_passes(orders_only: DbtRun) -> None:
    orders_only.assert_ok()
    manifest = json.loads(
        (orders_only.duckdb_path.with_name("orders_only_target") / "manifest.json").read_text()
    )
    models = {
        k
        for k, n in manifest["nodes"].items()
        if n["resource_type"] == "model" and n["fqn"][1] in ("silver", "gold")
    }
    built = {r["unique_id"] for r in orders_only.results if r["status"] == "success"}
    assert models and models <= built, sorted(models - built)


def test_a_feature_file_without_rows_is_an_empty_table_with_its_columns(
    orders_only: DbtRun,
) -> None:
    """No products: the product feature file still has a file for Feast and Polars to read the
    columns from, with no rows (a partitioned write of no rows writes no file)."""
    path = orders_only.duckdb_path.with_name("orders_only_features") / "product__daily.parquet"
    frame = pl.read_parquet(path, hive_partitioning=True)
    assert frame.height == 0
    view = query(orders_only.duckdb_path, "describe gold.feat_product__daily")
    assert set(frame.columns) == {name for name, *_ in view}
    assert frame.schema["snapshot_date"] == pl.Date


def test_customers_and_order_ids_are_derived(orders_only: DbtRun) -> None:
    customers = query(
        orders_only.duckdb_path,
        "select customer_id, has_profile, signed_up_date::varchar, acquisition_channel"
        " from silver.int_customers__conformed order by 1",
    )
    assert customers == [
        ("K1", False, "2025-03-01", "organic"),
        ("K2", False, "2025-04-20", "organic"),
    ]
    # K2's two identical rows are two orders, with distinct derived ids
    orders = query(
        orders_only.duckdb_path,
        "select count(*), count(distinct order_id), sum(order_amount_krw)"
        " from silver.int_orders__enriched where customer_id = 'K2'",
    )
    assert orders == [(2, 2, 10000.0)]


def test_feat_customer_daily_counts_orders_over_30_days(orders_only: DbtRun) -> None:
    rows = dict(
        query(
            orders_only.duckdb_path,
            "select snapshot_date::varchar, orders_30d from gold.feat_customer__daily"
            " where customer_id = 'K1'",
        )
    )
    # one row per day from the first order to the last date in the data (2025-04-20)
    assert len(rows) == 51 and min(rows) == "2025-03-01" and max(rows) == "2025-04-20"
    assert {d: rows[d] for d in K1_ORDERS_30D} == K1_ORDERS_30D


@pytest.mark.parametrize(
    ("snapshot_date", "expected"),
    [
        # (revenue_30d_krw, orders_to_date, days_since_last_order, event_timestamp)
        ("2025-03-15", (30000.0, 2, 0, "2025-03-15 15:00:00")),
        ("2025-03-16", (60000.0, 3, 0, "2025-03-16 15:00:00")),
        ("2025-04-09", (50000.0, 3, 24, "2025-04-09 15:00:00")),
    ],
)
def test_feat_customer_daily_values(orders_only: DbtRun, snapshot_date: str, expected) -> None:
    row = query(
        orders_only.duckdb_path,
        "select revenue_30d_krw, orders_to_date, days_since_last_order, event_timestamp::varchar"
        " from gold.feat_customer__daily where customer_id = 'K1' and snapshot_date = ?::date",
        [snapshot_date],
    )
    assert row == [expected]


def test_all_revenue_is_organic(orders_only: DbtRun) -> None:
    rows = query(
        orders_only.duckdb_path,
        "select channel, sum(revenue_krw), sum(first_orders), sum(repeat_orders)"
        " from gold.fct_conversion_tracking group by channel",
    )
    assert rows == [("organic", 110000.0, 2, 4)]
