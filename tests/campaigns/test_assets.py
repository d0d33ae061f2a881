"""The segment, campaign and uplift assets through Dagster on the test world's warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dagster_project.defs.campaigns.assets import campaign_asset, is_triggered
from dagster_project.defs.products.assets import product_tables
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.segments.assets import segment_tables
from dagster_project.defs.uplift.assets import campaign_uplift, coupon_uplift_scores
from dagster_project.lib.campaigns.config import campaign_files
from dagster_project.lib.settings import REPO_ROOT
from dagster_project.lib.warehouse import connect


@pytest.mark.slow
def test_assets_build_audiences_reports_and_scores(world: Path, tmp_path: Path) -> None:
    shutil.copy(world / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    warehouse = Warehouse(
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        raw_dir=str(world / "raw"),
        features_dir=str(tmp_path / "features"),
    )
    files = [p for p in campaign_files(REPO_ROOT / "campaigns") if not is_triggered(p)]
    assets = [
        segment_tables,
        campaign_uplift,
        coupon_uplift_scores,
        product_tables,  # a sample campaign carries products
        *map(campaign_asset, files),
    ]
    result = dg.materialize(assets, resources={"warehouse": warehouse})
    assert result.success
    checks = result.get_asset_check_evaluations()
    # Two per campaign file, the coupon uplift model's qini_above_random and the uplift
    # report's every_measurable_campaign_reported.
    assert len(checks) == 2 * len(files) + 2 and all(c.passed for c in checks)
    by_key = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert by_key["gold/customer_segments"]["dagster/row_count"].value == 5000
    assert by_key["gold/coupon_uplift_evaluation"]["qini/uplift_model"].value > 0
    assert by_key["gold/coupon_uplift_scores"]["dagster/row_count"].value == 5000
    assert by_key["gold/campaign_uplift"]["verdicts/effective"].value >= 4
    for path in files:
        meta = by_key[f"campaigns/{path.stem}"]
        assert meta["funnel/treatment"].value > 0
        assert Path(meta["export_csv"].value).exists()

    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        assigned = con.sql(
            "select a.*, c.has_marketing_consent, c.has_night_consent"
            " from gold.campaign_assignments as a join gold.dim_customers as c using (customer_id)"
        ).pl()
    assert assigned.height > 0
    assert assigned["has_marketing_consent"].all()
    assert assigned.filter("is_night_send")["has_night_consent"].all()
    assert assigned.filter("is_night_send").height > 0  # the sample night push is planned
    exported = pl.read_csv(by_key[f"campaigns/{files[0].stem}"]["export_csv"].value)
    assert (
        exported.height
        == assigned.filter((pl.col("campaign_id") == files[0].stem) & pl.col("is_treatment")).height
    )

    # Re-running gives the same groups and does not duplicate rows.
    again = dg.materialize(assets[4:], resources={"warehouse": warehouse})
    assert again.success
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        second = con.sql("select * from gold.campaign_assignments").pl()
    sort = ["campaign_id", "customer_id"]
    assert second.sort(sort).equals(
        assigned.drop("has_marketing_consent", "has_night_consent").sort(sort)
    )
