"""The triggered_sends asset through Dagster on the test world's warehouse: two ticks of the
shipped triggered campaigns (bookmark and abandoned-cart reminders), then the first tick again."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl

from dagster_project.defs.campaigns.assets import triggered_asset
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.segments.assets import segment_tables
from dagster_project.lib.warehouse import connect

# The test world's events end on 2025-10-27; 03:00 and 09:00 UTC are 12:00 and 18:00 in Seoul.
FIRST, SECOND = "2025-10-27T03:00:00", "2025-10-27T09:00:00"


def _tick(warehouse: Warehouse, as_of: str, with_segments: bool = False):
    triggered_sends = triggered_asset()
    assets = [segment_tables, triggered_sends] if with_segments else [triggered_sends]
    config = dg.RunConfig({"campaigns__triggered_sends": {"config": {"as_of": as_of}}})
    result = dg.materialize(assets, resources={"warehouse": warehouse}, run_config=config)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {"respects_consent", "no_double_trigger"}
    assert all(c.passed for c in checks)
    (meta,) = [
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == triggered_sends.key
    ]
    return meta


def test_triggered_sends_ticks_once_per_event(world: Path, tmp_path: Path) -> None:
    shutil.copy(world / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    warehouse = Warehouse(
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        raw_dir=str(world / "raw"),
        features_dir=str(tmp_path / "features"),
    )
    first = _tick(warehouse, FIRST, with_segments=True)
    assert first["sent"].value > 0 and first["log_rows_added"].value > 0
    export = pl.read_csv(first["exports"].value.split(", ")[0])
    assert export["product_id"].is_not_null().all() and export["category_l1"].is_not_null().all()
    second = _tick(warehouse, SECOND)
    assert second["log_rows_added"].value > 0
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        log = con.sql("select * from gold.campaign_trigger_log").pl()
        sent = con.sql(
            "select a.*, c.has_marketing_consent from gold.campaign_assignments as a"
            " join gold.dim_customers as c using (customer_id)"
            " where a.campaign_id in ('push_bookmark_reminder', 'push_cart_reminder')"
        ).pl()
    assert log.select("campaign_id", "trigger_key").is_unique().all()
    assert sent["has_marketing_consent"].all() and sent.height >= first["dagster/row_count"].value
    # The last tick again: every trigger it sees is decided already, nothing is added.
    again = _tick(warehouse, SECOND)
    assert again["log_rows_added"].value == 0 and again["dagster/row_count"].value == 0
