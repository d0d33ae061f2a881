"""A tiny world's gold feature files, built once per session with the real ingestion and `dbt
build`, and a Feast store over them on a temporary data dir (embedded profile)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dagster_project.lib.dbt_run import features_dir_of
from dagster_project.lib.settings import Settings
from dagster_project.lib.simulate import WorldConfig, simulate, write_world
from tests.conftest import build_warehouse

# The services fixtures (skip without servers, fail under CI=true), for the production profile.
from tests.services.conftest import (  # noqa: F401
    fresh_postgres_db,
    password_redis,
    postgres_url,
)


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw files, warehouse and the Parquet feature files of a 300-customer, 40-day world."""
    root = tmp_path_factory.mktemp("feature_world")
    write_world(simulate(WorldConfig(customers=300, days=40, seed=1)), root / "raw")
    build_warehouse(root / "raw", root / "warehouse.duckdb").assert_ok()
    # dbt wrote the feature files beside the warehouse
    features_dir_of(root / "warehouse.duckdb").rename(root / "features")
    return root


def settings_for(data_dir: Path, features_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        raw_dir=data_dir / "raw",
        duckdb_path=data_dir / "warehouse.duckdb",
        features_dir=features_dir,
        business_timezone="Asia/Seoul",
    )


@pytest.fixture
def features_dir(world_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the feature files (tests may rewrite them)."""
    target = tmp_path / "features"
    shutil.copytree(world_dir / "features", target)
    return target


@pytest.fixture
def settings(tmp_path: Path, features_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Embedded-profile settings on a temporary data dir."""
    monkeypatch.setenv("MOPT_PROFILE", "embedded")
    monkeypatch.setenv("MOPT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MOPT_FEATURES_DIR", str(features_dir))
    return settings_for(tmp_path, features_dir)


@pytest.fixture(scope="session")
def materialized_store(world_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """An applied and fully materialized embedded store, shared by the read-only tests."""
    from dagster_project.lib import features

    data_dir = tmp_path_factory.mktemp("feast_store")
    settings = settings_for(data_dir, world_dir / "features")
    store = features.feature_store(settings, profile="embedded")
    features.apply_repo(store, settings.features_dir)
    features.materialize_online_store(store)
    return store
