"""The model assets through Dagster on the test world: training set, both models, scores in
gold.customer_scores and in Feast's online store (values, not nulls); and the promotion rule: a
model that fails its check is never served, by that run or by the daily runs after it."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dagster_project.defs.resources import Warehouse
from dagster_project.lib import display
from dagster_project.lib.warehouse import connect
from tests.models.conftest import use_model_world


def copy_world(model_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """The test world's warehouse and feature files in ``tmp_path``, with the environment the
    Definitions read pointing there (models under tmp_path/models), and its Feast repo applied."""
    shutil.copy(model_world / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    shutil.copytree(model_world / "features", tmp_path / "features")
    return use_model_world(tmp_path, model_world / "raw", monkeypatch)


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

    warehouse = copy_world(model_world, tmp_path, monkeypatch)
    store = features.feature_store()

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
    # The recency and RFM scores are not probabilities: their log loss is undefined, so it is
    # left out of the numbers to plot (a 0 would read as perfect), and missing in the table.
    purchase_meta = meta["models/purchase_probability"]
    assert "model/log_loss" in purchase_meta
    assert "recency/log_loss" not in purchase_meta and "rfm/log_loss" not in purchase_meta
    rows = {r.data["scorer"]: r.data for r in purchase_meta["metrics"].records}
    assert rows["recency"]["log_loss"] == display.MISSING != rows["model"]["log_loss"]

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


# Trees that may not split (a leaf needs more rows than the data has) predict a constant:
# AUC 0.5 and Gini 0, far under the baselines. A misconfigured run from the launchpad, say.
BAD_MODEL = {"config": {"min_data_in_leaf": 10_000_000}}
MODELS = ("models/purchase_probability", "models/ltv")


def run_models(warehouse: Warehouse, config: dict, *, with_training_set: bool = False):
    """The weekly retraining (training set, both models, scores) with a model config."""
    from dagster_project.defs.models import assets

    steps = [assets.purchase_probability, assets.ltv, assets.customer_scores]
    return dg.materialize(
        [assets.training_set, *steps] if with_training_set else steps,
        resources={"warehouse": warehouse},
        run_config={"ops": {"models__purchase_probability": config, "models__ltv": config}},
        raise_on_error=False,
    )


def run_daily_scoring() -> dg.ExecuteInProcessResult:
    """The daily job from the Definitions the UI loads, as far as serving scores: its own
    customer_scores step (the job trains nothing: the models group is not in it)."""
    from dagster_project.definitions import defs
    from dagster_project.defs.models.assets import SCORES_KEY

    definitions = defs()
    job = definitions.resolve_job_def("refresh_all_job")
    selected = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert SCORES_KEY.to_user_string() in selected
    assert not selected & {*MODELS, "models/training_set"}
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, asset_selection=[SCORES_KEY])
    assert result.success
    return result


def served(tmp_path: Path) -> pl.DataFrame:
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        return con.sql("select * from gold.customer_scores order by customer_id").pl()


def checks_of(result) -> dict[str, bool]:
    return {
        c.asset_key.to_user_string(): c.passed
        for c in result.get_asset_check_evaluations()
        if c.check_name == "beats_baselines"
    }


@pytest.mark.slow
def test_a_model_that_fails_its_check_is_never_served(
    model_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_project.lib.models import pipeline
    from dagster_project.lib.models.registry import Registry

    warehouse = copy_world(model_world, tmp_path, monkeypatch)
    registry = Registry(tmp_path / "models")

    # 1. The first models ever trained fail their check: registered, never champion. The check
    # is a warning, so the run succeeds and scores with the RFM baseline, saying why in one line
    # with the model's and the best baseline's figures.
    bad = run_models(warehouse, BAD_MODEL, with_training_set=True)
    assert bad.success
    assert checks_of(bad) == dict.fromkeys(MODELS, False)
    severities = {
        c.severity for c in bad.get_asset_check_evaluations() if c.check_name == "beats_baselines"
    }
    assert severities == {dg.AssetCheckSeverity.WARN}
    assert registry.versions("purchase_probability") and registry.versions("ltv_ziln")
    assert registry.champion("purchase_probability") is registry.champion("ltv_ziln") is None
    [note] = [
        e.materialization.metadata["score_source"].value
        for e in bad.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "gold/customer_scores"
    ]
    # Trees that cannot split rank no one: AUC 0.5 and Gini 0, under the RFM baseline.
    [version] = registry.versions("purchase_probability")
    assert note.startswith(
        "no model has passed beats_baselines yet; serving the RFM baseline; "
        f"purchase_probability {version} did not beat its baselines (test roc_auc 0.500, "
        "best baseline 0."
    )
    assert note.count("did not beat its baselines") == 2 and "ltv_ziln" in note
    assert set(served(tmp_path)["model_version"]) == {"baseline:rfm_cell"}
    # and `mopt demo`'s summary says the same, per model
    summary = pipeline.champion_summary(tmp_path / "models")
    assert summary[0].startswith(f"model purchase_probability {version} did not beat its")
    assert summary[0].endswith("; scores use the RFM baseline") and "roc_auc 0.500" in summary[0]

    # 2. The next daily run serves the RFM baseline too, labelled as such, and says why.
    daily = run_daily_scoring()
    [event] = daily.get_asset_materialization_events()
    assert event.materialization.metadata["score_source"].value == note
    baseline = served(tmp_path)
    assert baseline.height >= 3_900
    assert set(baseline["model_version"]) == {"baseline:rfm_cell"}
    assert set(baseline["p_buy_source"]) == set(baseline["value_source"]) == {"baseline"}
    # Its p_buy is the buy rate of the customer's RFM cell in the training rows: customers who
    # never ordered get the training rate of never-buyers, recent buyers a higher one.
    train = pl.read_parquet(tmp_path / "models" / "training_set.parquet").filter(
        pl.col("split") == "train"
    )
    never_rate = train.filter(pl.col("orders_to_date").fill_null(0) == 0)["label_bought"].mean()
    snapshot = pl.read_parquet(tmp_path / "features" / "customer__daily.parquet")
    latest = snapshot.filter(pl.col("event_timestamp") == snapshot["event_timestamp"].max())
    joined = baseline.join(latest, on="customer_id")
    never = joined.filter(pl.col("orders_to_date").fill_null(0) == 0)
    recent = joined.filter(pl.col("days_since_last_order") <= 30)
    assert never.height and recent.height
    assert never["p_buy"].to_list() == pytest.approx([never_rate] * never.height)
    assert recent["p_buy"].mean() > 2 * never_rate

    # 3. Good models pass and become the champions; their scores are served.
    good = run_models(warehouse, {"config": {}})
    assert good.success and checks_of(good) == dict.fromkeys(MODELS, True)
    champions = {n: registry.champion(n) for n in ("purchase_probability", "ltv_ziln")}
    assert None not in champions.values()
    by_champions = served(tmp_path)
    assert set(by_champions["p_buy_source"]) == set(by_champions["value_source"]) == {"model"}
    assert set(by_champions["model_version"]) == {
        f"purchase_probability:{champions['purchase_probability']}+ltv_ziln:{champions['ltv_ziln']}"
    }

    # 4. A bad retraining fails again: the champions stay, and the daily run after it serves
    # exactly what they scored, not the failed models.
    worse = run_models(warehouse, BAD_MODEL)
    assert checks_of(worse) == dict.fromkeys(MODELS, False)
    decisions = {
        e.asset_key.to_user_string(): e.materialization.metadata["decision"].value
        for e in worse.get_asset_materialization_events()
        if e.asset_key.to_user_string() in MODELS
    }
    assert all(d.startswith("not promoted") for d in decisions.values()), decisions
    assert {n: registry.champion(n) for n in champions} == champions
    assert len(registry.versions("purchase_probability")) == 3
    daily = run_daily_scoring()
    [event] = daily.get_asset_materialization_events()
    assert event.materialization.metadata["score_source"].value.startswith("champions")
    assert served(tmp_path).equals(by_champions)
    # and the champions' summary says which version serves, with its check's figures
    summary = pipeline.champion_summary(tmp_path / "models")
    assert champions["purchase_probability"] in summary[0]
