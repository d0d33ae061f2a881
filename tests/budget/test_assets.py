"""The budget assets through Dagster on data they cannot plan from (an orders-only export, no
spend; an export whose spend is for a channel without any journey: they say why and skip) and on
a small simulated world (the curves are fitted on the paid channels' exposure-level
measurement, the lab check's input)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from polars.testing import assert_frame_equal

from dagster_project.defs.budget.assets import budget_plan, paid_exposure_lift, response_curves
from dagster_project.defs.resources import Warehouse
from dagster_project.lib.simulate import WorldConfig
from dagster_project.lib.warehouse import connect
from tests.attribution.conftest import build_world
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


BUDGET_ASSETS = ("gold/paid_exposure_lift", "gold/response_curves", "gold/budget_plan")


def _materialize(duckdb_path: Path, raw_dir: Path) -> dict[str, dict]:
    warehouse = Warehouse(
        duckdb_path=str(duckdb_path), raw_dir=str(raw_dir), features_dir=str(raw_dir / "f")
    )
    result = dg.materialize(
        [paid_exposure_lift, response_curves, budget_plan], resources={"warehouse": warehouse}
    )
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
    for key in BUDGET_ASSETS:
        assert meta[key]["dagster/row_count"] == 0
        assert "no marketing spend" in meta[key]["skipped"]
        assert meta[key]["channels_with_spend"] == "none"
    written = {"paid_exposure_lift", "response_curves", "budget_plan"}
    assert not written & _tables(warehouses["orders_only"])


def test_spend_without_journeys_names_the_channel(warehouses, tmp_path: Path) -> None:
    meta = _materialize(warehouses["spend_only"], tmp_path)
    for key in BUDGET_ASSETS:
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


# 3,000 customers x 140 days of flighted spend: every paid channel has impressions and enough
# weeks (16, of which 14 measured) for a curve.
CURVE_WORLD = WorldConfig(customers=3_000, days=140, seed=5, start_date=date(2024, 9, 2))


@pytest.mark.slow
def test_curves_are_fitted_on_the_exposure_lift_measurement(tmp_path: Path) -> None:
    from dagster_project.lib.attribution.exposure_lift import exposure_lift, panel_from_warehouse
    from dagster_project.lib.budget import curves

    root = build_world(tmp_path / "world", CURVE_WORLD)
    db = root / "warehouse.duckdb"
    meta = _materialize(db, root / "raw")
    assert meta["gold/response_curves"]["curve_input"] == "gold.paid_exposure_lift"
    # customers sign up all along the simulated window: the curves are at today's audience
    assert meta["gold/response_curves"]["audience_growth"] > 1.0
    assert meta["gold/paid_exposure_lift"]["channels_measured"] >= 4
    with connect(db, read_only=True) as con:
        stored = con.sql("select * from gold.paid_exposure_lift").pl()
        params = con.sql("select * from gold.response_curve_params order by channel").pl()
        spend = curves.spend_coverage(con).weekly
        direct = exposure_lift(panel_from_warehouse(con))
    # the stored measurement is exposure_lift's on this warehouse (deterministic, seeded)
    key = ["week_start", "channel", "scope"]
    assert_frame_equal(stored.sort(key), direct.weekly.sort(key), check_exact=False, rtol=1e-9)
    assert (stored["conversions_se"] > 0).all()
    # and the curves are the ones fitted on it, not on any other input: the attribution's
    # weekly credit is not even in this warehouse (gold/attribution_credit not materialized)
    assert "attribution_credit_weekly" not in _tables(db)
    refit = curves.params_table(curves.fit_curves(curves.weekly_inputs(spend, direct.weekly)))
    # to 1e-3: the stored table's last digits differ from the direct frame's, and the optimizer
    # carries that into the flat directions of a fit (a decay of 0.148040 vs 0.148036)
    assert_frame_equal(params, refit.sort("channel"), check_exact=False, rtol=1e-3)
