"""The feature repo's definitions, without data: schemas agree with the dbt gold models (the
single source of the columns), every view is documented, the configs of both profiles come from
one place, and the Dagster assets depend on exactly the files the sources read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dagster_project.lib import features
from dagster_project.lib.settings import (
    DBT_PROJECT_DIR,
    FEATURE_REPO_DIR,
    REPO_ROOT,
    Settings,
    feature_models,
)

DBT_TO_FEAST = {"varchar": "String", "integer": "Int32", "double": "Float64", "boolean": "Bool"}
BOOKKEEPING = {"snapshot_date", "event_timestamp", "created_timestamp"}


@pytest.fixture(scope="module")
def repo():
    return features.load_repo(Path("/nowhere/features"))


def dbt_columns(model: str) -> dict[str, str]:
    spec = yaml.safe_load(
        (DBT_PROJECT_DIR / "models" / "gold" / "features" / f"{model}.yml").read_text()
    )
    [node] = [m for m in spec["models"] if m["name"] == model]
    return {c["name"]: c["data_type"] for c in node["columns"]}


def test_views_match_the_dbt_gold_models(repo) -> None:
    join_keys = {e.name: e.join_key for e in repo.entities}
    covered: dict[str, set[str]] = {}
    for view in repo.feature_views:
        if "dbt_model" not in view.tags:  # model scores, written by a Python asset
            continue
        model = view.tags["dbt_model"]
        assert view.batch_source.tags["dbt_model"] == model
        columns = dbt_columns(model)
        for field in view.features:
            assert field.name in columns, f"{view.name}.{field.name} is not in {model}"
            assert str(field.dtype) == DBT_TO_FEAST[columns[field.name]], (view.name, field.name)
        keys = {join_keys[e] for e in view.entities}
        assert keys <= set(columns), (view.name, keys)
        covered.setdefault(model, set()).update(keys | {f.name for f in view.features})
    # Every gold feature column is served by some view: nothing built in dbt is left out.
    for model, names in covered.items():
        assert set(dbt_columns(model)) - BOOKKEEPING == names, model


def test_views_and_services_are_documented(repo) -> None:
    assert {v.name for v in repo.feature_views} == {
        "customer_profile",
        "customer_behaviour",
        "product_performance",
        "seller_performance",
        "customer_scores",
        "customer_candidates",
        "customer_embedding",
        "product_embedding",
        "seller_embedding",
    }
    for view in repo.feature_views:
        assert view.ttl and view.owner and view.description and view.tags, view.name
        assert view.batch_source.timestamp_field == "event_timestamp"
        assert view.batch_source.created_timestamp_column == "created_timestamp"
    assert {s.name for s in repo.feature_services} == {
        "purchase_probability_v1",
        "ltv_v1",
        "campaign_targeting_v1",
        "customer_scores_v1",
        "campaign_products_v1",
    }
    for service in repo.feature_services:
        assert service.owner and service.description and service.tags, service.name
    assert {e.name: e.join_key for e in repo.entities} == {
        "customer": "customer_id",
        "product": "product_id",
        "seller": "seller_id",
    }


def test_sources_read_the_files_the_assets_depend_on(repo) -> None:
    from dagster_project.defs.features.assets import feature_registry

    files = {m.removeprefix("feat_") for m in feature_models()}
    paths = {Path(s.path) for s in repo.data_sources if "dbt_model" in s.tags}
    assert paths == {Path("/nowhere/features") / f"{name}.parquet" for name in files}
    deps = {k.path[-1] for k in feature_registry.asset_deps[feature_registry.key]}
    assert deps == set(feature_models())


def test_the_features_dir_follows_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MOPT_FEATURES_DIR", raising=False)
    monkeypatch.setenv("MOPT_DATA_DIR", str(tmp_path))
    [source, *_] = features.load_repo().data_sources
    assert Path(source.path).parent == tmp_path / "features" == Settings.from_env().features_dir


def test_the_cli_yaml_is_the_embedded_profile_at_the_default_data_dir(monkeypatch) -> None:
    for name in ("MOPT_DATA_DIR", "MOPT_FEATURES_DIR", "MOPT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    committed = yaml.safe_load((FEATURE_REPO_DIR / "feature_store.yaml").read_text())
    built = features.config_dict(Settings.from_env())
    for section in ("registry", "online_store"):
        committed[section]["path"] = str((FEATURE_REPO_DIR / committed[section]["path"]).resolve())
    assert committed == built
    assert Path(built["registry"]["path"]).is_relative_to(REPO_ROOT / "data")


def test_profiles(monkeypatch, tmp_path: Path) -> None:
    settings = Settings.from_env()
    monkeypatch.setenv("MOPT_PROFILE", "staging")
    with pytest.raises(ValueError, match="MOPT_PROFILE"):
        features.active_profile()
    monkeypatch.setenv("MOPT_PROFILE", "production")
    monkeypatch.delenv("FEAST_REGISTRY_URL", raising=False)
    with pytest.raises(ValueError, match="FEAST_REGISTRY_URL"):
        features.repo_config(settings)
    monkeypatch.setenv("FEAST_REGISTRY_URL", "postgresql+psycopg://u:secret@db:5432/mopt")
    monkeypatch.setenv("MOPT_REDIS_URL", "redis:6379")
    config = features.repo_config(settings)
    assert config.registry.registry_type == "sql"
    assert config.registry.path == "postgresql+psycopg://u:secret@db:5432/mopt"
    assert config.online_store.type == features.REDIS_ONLINE_STORE
    assert config.online_store.connection_string == "redis:6379"
    assert config.offline_store.type == "duckdb"
    rendered = features.feature_store_yaml(settings)
    assert "secret" not in rendered and "${FEAST_REGISTRY_URL}" in rendered
