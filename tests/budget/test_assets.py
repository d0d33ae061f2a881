"""The budget assets through Dagster on data they cannot plan from: an orders-only export (no
spend) and an export whose spend is for a channel without any journey. Both say why and skip."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.budget.assets import budget_plan, response_curves
from dagster_project.defs.resources import Warehouse
from dagster_project.lib.warehouse import connect
from tests.conftest import build_warehouse
from tests.dbt.conftest import ORDERS_ONLY_CSV

SPEND_CSV = """date,channel,campaign_id,spend,impressions,clicks,installs
2025-03-03,display,C1,500000,10000,100,0
2025-03-10,display,C1,700000,14000,130,0
"""
CAMPAIGNS_CSV = """campaign_id,campaign_name,channel,objective,started_at,ended_at,cost_model
C1,2025_03_display_awareness_spring,display,awareness,2025-03-01T00:00:00Z,2025-04-30T00:00:00Z,cpm
"""


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("budget_warehouses")
    raws = {"orders_only": root / "orders_only_raw", "spend_only": root / "spend_only_raw"}
    for raw in raws.values():
        raw.mkdir()
        (raw / "orders.csv").write_text(ORDERS_ONLY_CSV)
    (raws["spend_only"] / "marketing_spend.csv").write_text(SPEND_CSV)
    (raws["spend_only"] / "campaigns.csv").write_text(CAMPAIGNS_CSV)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = {
            name: pool.submit(build_warehouse, raw, root / f"{name}.duckdb")
            for name, raw in raws.items()
        }
        return {name: run.result().duckdb_path for name, run in runs.items()}


def _materialize(duckdb_path: Path, raw_dir: Path) -> dict[str, dict]:
    warehouse = Warehouse(
        duckdb_path=str(duckdb_path), raw_dir=str(raw_dir), features_dir=str(raw_dir / "f")
    )
    result = dg.materialize([response_curves, budget_plan], resources={"warehouse": warehouse})
    assert result.success
    return {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }


def _tables(duckdb_path: Path) -> set[str]:
    with connect(duckdb_path, read_only=True) as con:
        rows = con.sql(
            "select table_name from information_schema.tables where table_schema = 'gold'"
        ).fetchall()
    return {r[0] for r in rows}


def test_orders_only_export_skips_with_the_reason(warehouses, tmp_path: Path) -> None:
    meta = _materialize(warehouses["orders_only"], tmp_path)
    for key in ("gold/response_curves", "gold/budget_plan"):
        assert meta[key]["dagster/row_count"] == 0
        assert "no marketing spend" in meta[key]["skipped"]
        assert meta[key]["channels_with_spend"] == "none"
    assert not {"response_curves", "budget_plan"} & _tables(warehouses["orders_only"])


def test_spend_without_journeys_names_the_channel(warehouses, tmp_path: Path) -> None:
    meta = _materialize(warehouses["spend_only"], tmp_path)
    for key in ("gold/response_curves", "gold/budget_plan"):
        assert meta[key]["channels_without_journeys"] == "display"
        assert meta[key]["skipped"] == "spend only for channels without journeys: display"


def test_plan_budget_cli_says_why_on_spend_without_journeys(warehouses, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from dagster_project.cli import app
    from dagster_project.lib.warehouse import publish_read_copy

    publish_read_copy(warehouses["spend_only"])
    monkeypatch.setenv("MOPT_DUCKDB_PATH", str(warehouses["spend_only"]))
    result = CliRunner().invoke(app, ["plan-budget", "--budget", "1000000", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "spend without journeys (not planned): display" in result.output
    assert "nothing to plan: spend only for channels without journeys: display" in result.output
    assert not (tmp_path / "plan.csv").exists()
