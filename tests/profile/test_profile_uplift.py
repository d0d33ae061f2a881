"""Where the coupon uplift model passes its check (the campaign test world: strong KakaoTalk
coupon effects, large holdouts; tests/segments/world.py), the profile shows the customer's
coupon uplift as gold.coupon_uplift_scores has it, and suggests coupons to a top-decile one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dagster_project.lib.profile.gather import gather_profile
from dagster_project.lib.profile.playbook import load_playbook
from dagster_project.lib.warehouse import connect
from tests.models.conftest import settings_for
from tests.segments.world import marketing_world_dir

pytestmark = pytest.mark.slow


def test_a_passing_uplift_model_puts_its_score_in_the_profile(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    import dagster as dg

    from dagster_project.defs.resources import Warehouse
    from dagster_project.defs.uplift.assets import coupon_uplift_scores

    world = marketing_world_dir(tmp_path_factory)
    shutil.copy(world / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    warehouse = Warehouse(
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        raw_dir=str(world / "raw"),
        features_dir=str(tmp_path / "features"),
    )
    result = dg.materialize([coupon_uplift_scores], resources={"warehouse": warehouse})
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    settings = settings_for(tmp_path, tmp_path)
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        top, uplift, decile = con.execute(
            "select customer_id, uplift, uplift_decile from gold.coupon_uplift_scores"
            " order by uplift desc, customer_id limit 1"
        ).fetchone()
        p = gather_profile(con, top, load_playbook(), settings, feast=False)
    assert (
        (p.scores.coupon_uplift, p.scores.coupon_uplift_decile) == (uplift, decile) != (None,) * 2
    )
    assert p.scores.uplift_note is None
    [play] = [play for play in p.plays if play.play == "Coupon uplift"]
    assert "target with coupons" in play.text
    assert not [play for play in p.plays if play.play.startswith("Coupon play")]  # replaced
