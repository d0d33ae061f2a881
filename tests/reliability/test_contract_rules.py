"""Hostile values and files against the raw data contract: each planted row is quarantined with a
row-level rule (or the file is refused with its line named), and every row reconciles from
landing through bronze to silver (issue 12 items 3, 4 and 10)."""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.ingest.assets import landing_asset
from dagster_project.defs.resources import Warehouse
from dagster_project.lib.ingest import IngestError, land_table, unmatched_files
from dagster_project.lib.warehouse import connect
from tests.conftest import DbtRun, build_warehouse, query, run_dbt

NULL_SPELLINGS = ("NULL", "null", "None", "NaN", "N/A")
CUSTOMERS = (
    "customer_id,signed_up_at,gender\nc1,2025-05-01T00:00:00Z,F\nc2,2025-05-02T00:00:00Z,M\n"
    + "".join(f"{s},2025-05-03T00:00:00Z,F\n" for s in NULL_SPELLINGS)
)
# Row 1 is clean (its lines too); every later order breaks one rule, named on its line.
ORDERS = {
    "o1,c1,2025-05-05T10:00:00Z,12000": None,
    "o2,c1,2025-05-05T10:00:00Z,NaN": "order_amount:not_finite",
    "o3,c1,2025-05-05T10:00:00Z,inf": "order_amount:not_finite",
    "o4,c1,2025-05-05T10:00:00Z,1e309": "order_amount:not_finite",
    "o5,c1,2025-05-05T10:00:00Z,2e11": "order_amount:above_money_max",
    "o6,c1,-infinity,100": "ordered_at:not_finite",
    "o7,c1,epoch,100": "ordered_at:before_2000-01-01",
    "o8,c1,1900-01-01,100": "ordered_at:before_2000-01-01",
    "o9,c2,2025-05-05T10:00:00Z,-1": "order_amount:below_min",  # its line is quarantined too
    **{f"o_{s},{s},2025-05-05T10:00:00Z,100": "customer_id:required" for s in NULL_SPELLINGS},
}
ORDER_ITEMS = {
    "o1,p1,2,6000": None,
    "o1,p2,2.0,0": None,  # an integer written as a float is still an integer
    "o1,p3,1.5,100": "quantity:not_integer",  # used to be stored as 2
    "o1,p4,1,NaN": "unit_price:not_finite",
    "o1,p5,1,Infinity": "unit_price:not_finite",
    "o9,p1,1,100": "order_id:parent_quarantined",  # used to reach bronze and vanish in silver
    "o404,p1,1,100": "order_id:unknown_orders",
}


def _csv(header: str, rows: dict[str, str | None]) -> str:
    return header + "\n" + "".join(f"{r}\n" for r in rows)


def _expected(table: str, rows: dict[str, str | None]) -> dict[tuple[str, int], str]:
    return {(table, n): rule for n, rule in enumerate(rows.values(), start=1) if rule}


EXPECTED = {
    **{("customers", 3 + i): "customer_id:required" for i in range(len(NULL_SPELLINGS))},
    **_expected("orders", ORDERS),
    **_expected("order_items", ORDER_ITEMS),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    """Bronze and silver built from the hostile files, with the reconciliation tests."""
    root = tmp_path_factory.mktemp("hostile")
    raw = root / "raw"
    raw.mkdir()
    (raw / "customers.csv").write_text(CUSTOMERS)
    (raw / "orders.csv").write_text(_csv("order_id,customer_id,ordered_at,order_amount", ORDERS))
    (raw / "order_items.csv").write_text(
        _csv("order_id,product_id,quantity,unit_price", ORDER_ITEMS)
    )
    return build_warehouse(
        raw,
        root / "w.duckdb",
        "--select",
        "path:seeds path:models/bronze path:models/silver",
        "assert_bronze_reconciles_with_landing assert_silver_keeps_bronze",
        "--indirect-selection",
        "cautious",
    )


def test_the_reconciliation_tests_ran_and_pass(world: DbtRun) -> None:
    world.assert_ok()
    ran = {r["unique_id"].split(".")[-1] for r in world.results}
    assert {"assert_bronze_reconciles_with_landing", "assert_silver_keeps_bronze"} <= ran


@pytest.mark.parametrize(("table", "row", "rule"), [(*k, v) for k, v in EXPECTED.items()])
def test_hostile_value_is_quarantined_with_its_rule(
    world: DbtRun, table: str, row: int, rule: str
) -> None:
    got = query(
        world.duckdb_path,
        "select rule from bronze.quarantine where table_name = ? and row_number = ?",
        [table, row],
    )
    assert got == [(rule,)]


def test_only_the_planted_rows_are_quarantined_and_the_rest_reach_silver(world: DbtRun) -> None:
    got = query(world.duckdb_path, "select table_name, row_number from bronze.quarantine")
    assert set(got) == set(EXPECTED)
    assert query(world.duckdb_path, "select order_id from silver.int_orders__enriched") == [("o1",)]
    lines = query(
        world.duckdb_path,
        "select product_id, quantity from silver.int_order_lines__joined order by 1",
    )
    assert lines == [("p1", 2), ("p2", 2)]
    # a null spelling never becomes a customer (nor, later, an exported one)
    customers = query(world.duckdb_path, "select customer_id from silver.int_customers__conformed")
    assert sorted(customers) == [("c1",), ("c2",)]


def test_silver_check_names_a_row_that_vanishes(world: DbtRun, tmp_path: Path) -> None:
    """The bronze -> silver test can fail: an order line whose order is not in silver (what the
    old contract let through) is reported."""
    world.assert_ok()
    duckdb_path = tmp_path / "w.duckdb"
    shutil.copyfile(world.duckdb_path, duckdb_path)
    with connect(duckdb_path) as con:
        con.execute(
            "create or replace view bronze.stg_raw__order_items as"
            " select 'o9' as order_id, 'p1' as product_id, 'order_items.csv' as _source_file,"
            " 6::bigint as _row_number"
        )
    rerun = run_dbt(duckdb_path, world.raw_dir, "test", "--select", "assert_silver_keeps_bronze")
    assert [f.split(":")[0].split(".")[-1] for f in rerun.failures] == [
        "assert_silver_keeps_bronze"
    ]


# ---- reading other people's files (item 10) ----

ORDERS_HEADER = "order_id,customer_id,ordered_at,order_amount\n"


def test_a_quoted_field_after_the_sniffer_sample_reads(tmp_path: Path) -> None:
    rows = "".join(f"o{i},c{i},2025-05-01,{i}\n" for i in range(30_000))
    (tmp_path / "orders.csv").write_text(ORDERS_HEADER + rows + 'o_q,"c, quoted",2025-05-01,5\n')
    with connect(tmp_path / "w.duckdb") as con:
        report = land_table(con, tmp_path, "orders")
        quoted = con.execute("select customer_id from landing.orders where order_id = 'o_q'")
        assert quoted.fetchall() == [("c, quoted",)]
    assert report.rows_loaded == 30_001


@pytest.mark.parametrize("ragged", ["o2,c2,2025-05-01,2,extra", "o2,c2"])
def test_a_ragged_row_is_named_by_file_and_line(tmp_path: Path, ragged: str) -> None:
    body = f"o1,c1,2025-05-01,1\n{ragged}\no3,c3,2025-05-01,3\n"
    (tmp_path / "orders.csv.gz").write_bytes(gzip.compress((ORDERS_HEADER + body).encode()))
    with connect(tmp_path / "w.duckdb") as con, pytest.raises(IngestError) as err:
        land_table(con, tmp_path, "orders")
    message = str(err.value)
    assert "orders.csv.gz: line 3 " in message and "ragged" in message
    assert "lacks required column" not in message


def test_files_that_match_no_table_are_listed(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(ORDERS_HEADER)
    (tmp_path / "customers.tsv").write_text("customer_id\tsigned_up_at\n")
    (tmp_path / "ordres.csv").write_text(ORDERS_HEADER)
    (tmp_path / "customers").mkdir()
    (tmp_path / "customers" / "profile_changes.csv").write_text("customer_id\n")
    (tmp_path / "customers" / "notes.txt").write_text("hello")
    (tmp_path / ".DS_Store").write_text("")
    assert unmatched_files(tmp_path) == ["customers.tsv", "customers/notes.txt", "ordres.csv"]


def test_the_landing_asset_warns_about_every_unmatched_file(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "orders.csv").write_text(ORDERS_HEADER + "o1,c1,2025-05-01,1\n")
    (raw / "customers.tsv").write_text("customer_id\tsigned_up_at\nc1\t2025-05-01\n")
    warehouse = Warehouse(
        duckdb_path=str(tmp_path / "w.duckdb"),
        raw_dir=str(raw),
        features_dir=str(tmp_path / "features"),
    )
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [landing_asset("orders")], resources={"warehouse": warehouse}, instance=instance
    )
    materialization = result.asset_materializations_for_node("landing__orders")[0]
    assert materialization.metadata["unmatched_files"].value == ["customers.tsv"]
    warnings = [
        e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING
    ]
    assert [m for m in warnings if "customers.tsv: matches no table" in m]
