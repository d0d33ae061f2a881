"""The model assets through Dagster on the test world: training set, both models, scores in
gold.customer_scores and in Feast's online store (values, not nulls)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dagster_project.defs.resources import Warehouse
from dagster_project.lib.warehouse import connect


@pytest.mark.slow
def test_model_assets_train_score_and_serve(
    model_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_project.defs.models.assets import (
        customer_scores,
        ltv,
        purchase_probability,
        training_set,
    )
    from dagster_project.lib import features

    shutil.copy(model_world / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    shutil.copytree(model_world / "features", tmp_path / "features")
    monkeypatch.setenv("MOPT_PROFILE", "embedded")
    monkeypatch.setenv("MOPT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MOPT_FEATURES_DIR", str(tmp_path / "features"))
    warehouse = Warehouse(
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        raw_dir=str(model_world / "raw"),
        features_dir=str(tmp_path / "features"),
    )
    store = features.feature_store()
    features.apply_repo(store, tmp_path / "features")

    result = dg.materialize(
        [training_set, purchase_probability, ltv, customer_scores],
        resources={"warehouse": warehouse},
    )
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"beats_baselines": True, "scores_are_valid": True}
    meta = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert meta["models/purchase_probability"]["model/roc_auc"].value > 0.8
    assert meta["models/ltv"]["model/normalized_gini"].value > 0.6
    assert "first model" in meta["models/ltv"]["decision"].value

    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        scores = con.sql("select * from gold.customer_scores").pl()
        types = dict(con.sql("describe gold.customer_scores").fetchall()[i][:2] for i in range(10))
    assert types["customer_id"] == "VARCHAR" and types["scored_at"] == "TIMESTAMP"
    assert types["horizon_days"] == "INTEGER" and types["p_buy"] == "DOUBLE"
    assert scores.height >= 3_900

    top = scores.sort("expected_value_krw", descending=True).head(5)
    online = features.online_features(top["customer_id"], "customer_scores_v1", store=store)
    assert online["p_buy"].null_count() == 0
    assert online["p_buy"].to_list() == pytest.approx(top["p_buy"].to_list())
    assert online["expected_value_krw"].to_list() == pytest.approx(
        top["expected_value_krw"].to_list()
    )

    # A second run trains a challenger on the same data: promoted (not worse), scores rewritten.
    again = dg.materialize(
        [training_set, purchase_probability, ltv, customer_scores],
        resources={"warehouse": warehouse},
    )
    assert again.success
    decision = {
        e.asset_key.to_user_string(): e.materialization.metadata["decision"].value
        for e in again.get_asset_materialization_events()
        if e.asset_key.path[0] == "models" and e.asset_key.path[-1] != "training_set"
    }
    assert all("promoted" in d for d in decision.values()), decision
    assert (
        pl.read_parquet(tmp_path / "features" / "customer_scores.parquet").height == scores.height
    )
