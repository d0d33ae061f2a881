"""A new team's first try: a 2,000-customer x 90-day world trains through the real assets (dbt,
Feast, LightGBM, Dagster). The horizon shortens to fit the history and the plan says so; whatever
the models' verdicts, the run succeeds and every customer gets scores, from the model that beat
its baselines or from the labelled RFM baseline, with one line saying which and why."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.resources import Warehouse
from dagster_project.lib.simulate import WorldConfig
from dagster_project.lib.warehouse import connect
from tests.models.conftest import build_model_world, use_model_world

pytestmark = pytest.mark.slow

SMALL = WorldConfig(customers=2_000, days=90, seed=11, counterfactuals=False)


def small_world(root: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    build_model_world(root, SMALL)
    return use_model_world(root, root / "raw", monkeypatch)


def test_a_90_day_world_trains_scores_and_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_project.defs.models import assets
    from dagster_project.lib.models.registry import Registry

    warehouse = small_world(tmp_path, monkeypatch)
    result = dg.materialize(
        [assets.training_set, assets.purchase_probability, assets.ltv, assets.customer_scores],
        resources={"warehouse": warehouse},
        raise_on_error=False,
    )
    assert result.success
    meta = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    # About 90 days between the first and the newest snapshot (89 when the first day's activity
    # starts late): 28 days of features, then three windows of 20 days (training, validation,
    # test) instead of 30.
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        (history,) = con.sql(
            "select date_diff('day', min(event_timestamp), max(event_timestamp))"
            " from gold.feat_customer__daily"
        ).fetchone()
    assert history in (89, 90)
    plan = meta["models/training_set"]
    assert plan["plan"].value == (
        f"history {history} days: 1 training cutoff, horizon 20 days (shortened from 30 to fit"
        " the history)"
    )
    assert plan["horizon_days"].value == 20 and plan["rows/train"].value > 0
    assert plan["buy_rate/test"].value > 0

    registry = Registry(tmp_path / "models")
    checks = {c.asset_key.to_user_string(): c for c in result.get_asset_check_evaluations()}
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        scores = con.sql("select * from gold.customer_scores").pl()
        snapshot_customers = con.sql(
            "select count(distinct customer_id) from gold.feat_customer__daily"
        ).fetchone()[0]
    assert scores.height == snapshot_customers > 1_500
    assert set(scores["horizon_days"]) == {20}
    # Each part comes from its model if it passed beats_baselines, else from the RFM baseline;
    # the note names the source, with the failed model's and the best baseline's figures.
    note = meta["gold/customer_scores"]["score_source"].value
    for asset, name, column in (
        ("models/purchase_probability", "purchase_probability", "p_buy_source"),
        ("models/ltv", "ltv_ziln", "value_source"),
    ):
        passed = checks[asset].passed
        assert checks[asset].severity == dg.AssetCheckSeverity.WARN
        assert (registry.champion(name) is not None) == passed
        assert set(scores[column]) == {"model" if passed else "baseline"}
        if not passed:
            assert f"{name} {registry.versions(name)[-1]} did not beat its baselines" in note
    assert scores["p_buy"].is_between(0, 1).all() and (scores["expected_value_krw"] >= 0).all()
