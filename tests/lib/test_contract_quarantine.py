"""Ingestion and the contract: planted bad rows land in quarantine with the rule they broke, the
rest in bronze, counts reconcile, and loading the same files again adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.lib.contract import tables
from dagster_project.lib.dbt_run import land_all
from dagster_project.lib.ingest import IngestError, land_table
from dagster_project.lib.warehouse import connect
from tests.conftest import build_warehouse

# Row 4 repeats c1 with the same (no) updated_at but other values: a conflict. Row 5 repeats
# row 1 exactly (de-duplicated, not quarantined); row 6 is c1's later version (an opt-out).
CUSTOMERS = (
    "customer_id,signed_up_at,gender,birth_year,region,marketing_opt_in,night_opt_in,"
    "acquisition_channel,updated_at,time_zone\n"
    """c1,2025-05-01T00:00:00Z,F,1990,seoul,true,false,organic,,Asia/Seoul
c2,2025-05-02T00:00:00Z,M,1985,busan,false,false,social,,
c3,2025-05-03T00:00:00Z,X,1985,busan,true,true,organic,,
c1,2025-05-04T00:00:00Z,F,1991,seoul,true,false,organic,,Asia/Seoul
c1,2025-05-01T00:00:00Z,F,1990,seoul,true,false,organic,,Asia/Seoul
c1,2025-05-01T00:00:00Z,F,1990,seoul,false,false,organic,2025-05-10T00:00:00Z,Asia/Seoul
c4,2025-05-03T00:00:00Z,M,1980,busan,true,true,organic,,Seoul
c5,2025-05-03T00:00:00Z,M,1980,busan,true,true,organic,,IST
"""
)
# Rows 1 and 2 are clean; each later row breaks exactly one rule (row numbers are 1-based).
ORDERS = """order_id,customer_id,ordered_at,order_amount,session_id,coupon_id
o1,c1,2025-05-05T10:00:00Z,12000,,
o2,c2,2025-05-06T11:00:00+09:00,8000,,
o3,c1,2025-05-07T10:00:00Z,twelve,,
o4,c1,2099-01-01T00:00:00Z,5000,,
o5,c2,2025-05-07T10:00:00Z,-1,,
o6,,2025-05-07T10:00:00Z,100,,
o7,c9,2025-05-07T10:00:00Z,100,,
o1,c1,2025-05-08T10:00:00Z,100,,
"""
# The optional weather table: rows 1 and 2 clean (a day ahead may be a forecast), then a rule each.
WEATHER = """date,region,precipitation_mm,mean_temp_c
2025-05-05,seoul,12.5,17.0
2099-05-05,busan,0,
2025-05-05,seoul,0,16.0
2025-05-06,,0,15.0
2025-05-06,busan,-1,15.0
2025-05-06,jeju,0,99
May 6th,jeju,0,15.0
"""
# The optional lift-study tables: rows 1 and 2 clean, then one rule each.
LIFT = """study_id,channel,customer_id,group,start_date,end_date
LS01,search_ads,c1,test,2025-05-01,2025-05-28
LS01,search_ads,c2,holdout,2025-05-01,2025-05-28
LS02,email,c1,test,2025-05-01,2025-05-28
LS03,search_ads,c2,control,2025-05-01,2025-05-28
LS04,search_ads,c1,test,2025-05-28,2025-05-01
LS01,search_ads,c9,test,2025-05-01,2025-05-28
LS01,search_ads,c1,holdout,2025-05-01,2025-05-28
"""
GHOSTS = """study_id,customer_id,occurred_at
LS01,c2,2025-05-03T10:00:00Z
LS01,c2,2025-05-04T10:00:00Z
LS01,c2,2099-05-03T10:00:00Z
LS01,,2025-05-05T10:00:00Z
LS01,c9,2025-05-05T10:00:00Z
"""
# Products (rows 1 and 2 clean) and the optional product_prices table: rows 1 and 2 clean, then
# one rule each.
PRODUCTS = """product_id,seller_id,category_l1,category_l2,price,style,created_at
p1,,bags,totes,19900,casual,2025-04-01T00:00:00Z
p2,,bags,totes,29900,casual,2025-04-01T00:00:00Z
p3,,bags,totes,-5,casual,2025-04-01T00:00:00Z
"""
PRICES = """product_id,valid_from,price_krw
p1,2025-04-01T00:00:00Z,19900
p1,2025-05-10T00:00:00Z,14900
p9,2025-05-10T00:00:00Z,100
p2,2025-05-10T00:00:00Z,-1
p1,2025-05-10T00:00:00Z,13900
,2025-05-10T00:00:00Z,100
"""
EXPECTED = {
    ("customers", 3): "gender:accepted_values",
    ("customers", 4): "customer_id:duplicate_key",
    ("customers", 7): "time_zone:unknown_time_zone",
    ("customers", 8): "time_zone:unknown_time_zone",  # an alias DuckDB knows, not an IANA name
    ("orders", 3): "order_amount:type_double",
    ("orders", 4): "ordered_at:in_future",
    ("orders", 5): "order_amount:below_min",
    ("orders", 6): "customer_id:required",
    ("orders", 7): "customer_id:unknown_customers",
    ("orders", 8): "order_id:duplicate_key",
    ("weather", 3): "date+region:duplicate_key",
    ("weather", 4): "region:required",
    ("weather", 5): "precipitation_mm:below_min",
    ("weather", 6): "mean_temp_c:above_max",
    ("weather", 7): "date:type_date",
    ("lift_study_assignments", 3): "channel:accepted_values",
    ("lift_study_assignments", 4): "group:accepted_values",
    ("lift_study_assignments", 5): "end_date:before_start_date",
    ("lift_study_assignments", 6): "customer_id:unknown_customers",
    ("lift_study_assignments", 7): "study_id+customer_id:duplicate_key",
    ("lift_study_ghost_impressions", 3): "occurred_at:in_future",
    ("lift_study_ghost_impressions", 4): "customer_id:required",
    ("lift_study_ghost_impressions", 5): "customer_id:unknown_customers",
    ("products", 3): "price:below_min",
    ("product_prices", 3): "product_id:unknown_products",
    ("product_prices", 4): "price_krw:below_min",
    ("product_prices", 5): "product_id+valid_from:duplicate_key",
    ("product_prices", 6): "product_id:required",
}
LANDED = (
    "customers",
    "orders",
    "weather",
    "lift_study_assignments",
    "lift_study_ghost_impressions",
    "products",
    "product_prices",
)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("contract")
    raw = root / "raw"
    raw.mkdir()
    (raw / "customers.csv").write_text(CUSTOMERS)
    (raw / "orders.csv").write_text(ORDERS)
    (raw / "weather.csv").write_text(WEATHER)
    (raw / "lift_study_assignments.csv").write_text(LIFT)
    (raw / "lift_study_ghost_impressions.csv").write_text(GHOSTS)
    (raw / "products.csv").write_text(PRODUCTS)
    (raw / "product_prices.csv").write_text(PRICES)
    # Cautious: only the tests whose every parent is in bronze (not bronze -> silver).
    build_warehouse(
        raw, root / "w.duckdb", "--select", "path:models/bronze", "--indirect-selection", "cautious"
    ).assert_ok()
    return root


def test_planted_rows_are_quarantined_with_their_rule(warehouse: Path) -> None:
    with connect(warehouse / "w.duckdb", read_only=True) as con:
        rows = con.execute(
            "select table_name, source_file, row_number, rule from bronze.quarantine"
        ).fetchall()
    assert {(t, n): rule for t, _, n, rule in rows} == EXPECTED
    assert {f for _, f, _, _ in rows} == {f"{name}.csv" for name in LANDED}


def test_bronze_plus_quarantine_reconciles_with_landing(warehouse: Path) -> None:
    with connect(warehouse / "w.duckdb", read_only=True) as con:
        for name in LANDED:
            landed, bronze, quarantined = con.execute(
                f"select (select count(*) from landing.{name}),"
                f" (select count(*) from bronze.stg_raw__{name}),"
                " (select count(*) from bronze.quarantine where table_name = ?)",
                [name],
            ).fetchone()
            assert landed == bronze + quarantined
        clean = con.execute(
            "select order_id, ordered_at::varchar, order_amount from bronze.stg_raw__orders"
            " order by order_id"
        ).fetchall()
    # The +09:00 offset is converted to UTC.
    assert clean == [("o1", "2025-05-05 10:00:00", 12000.0), ("o2", "2025-05-06 02:00:00", 8000.0)]


def test_loading_the_same_files_again_adds_nothing(warehouse: Path) -> None:
    with connect(warehouse / "w.duckdb") as con:
        before = con.execute("select count(*) from landing.orders").fetchone()[0]
        report = land_table(con, warehouse / "raw", "orders")
        after = con.execute("select count(*) from landing.orders").fetchone()[0]
    assert report.files_unchanged == ["orders.csv"] and report.rows_loaded == 0
    assert before == after == 8


def test_a_changed_file_replaces_its_earlier_rows(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "orders.csv").write_text(ORDERS)
    land_all(raw, tmp_path / "w.duckdb")
    (raw / "orders.csv").write_text(ORDERS.splitlines()[0] + "\no9,c1,2025-05-09T00:00:00Z,1,,\n")
    with connect(tmp_path / "w.duckdb") as con:
        land_table(con, raw, "orders")
        assert con.execute("select order_id from landing.orders").fetchall() == [("o9",)]


def test_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "orders.csv").write_text("customer_id,order_amount\nc1,100\n")
    with connect(tmp_path / "w.duckdb") as con, pytest.raises(IngestError) as err:
        land_table(con, raw, "orders")
    assert "orders.csv" in str(err.value) and "ordered_at" in str(err.value)


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "orders.parquet").write_bytes(b"this is not parquet")
    with connect(tmp_path / "w.duckdb") as con, pytest.raises(IngestError, match="orders.parquet"):
        land_table(con, raw, "orders")


def test_absent_optional_tables_land_empty(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "orders.csv").write_text("customer_id,ordered_at,order_amount\nc1,2025-05-01,100\n")
    land_all(raw, tmp_path / "w.duckdb")
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        for name, table in tables().items():
            count = con.execute(f"select count(*) from landing.{name}").fetchone()[0]
            assert count == (1 if name == "orders" else 0)
            cols = [r[0] for r in con.execute(f"describe landing.{name}").fetchall()]
            assert cols[: len(table.column_names)] == table.column_names


def test_contract_tables_var_matches_sources() -> None:
    import yaml

    from dagster_project.lib.settings import DBT_PROJECT_DIR

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["contract_tables"] == list(tables())
