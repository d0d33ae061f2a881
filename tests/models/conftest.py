"""One simulated world for the model tests, built once per session with the real ingestion and
`dbt build`: 4,000 customers x 240 days (about 10 % buy in any 30 days, so the 30-day test window
has ~400 buyers: enough for AUC and Gini to be stable to a few hundredths), its Feast store, the
training set and the two trained models."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from dagster_project.defs.resources import Warehouse
from dagster_project.lib.settings import Settings
from dagster_project.lib.simulate import WorldConfig, simulate, write_world
from dagster_project.lib.warehouse import connect
from tests.conftest import build_warehouse

FEATURE_MODELS = ("customer__daily", "product__daily", "seller__daily")
WORLD = WorldConfig(customers=4_000, days=240, seed=7, counterfactuals=False)


def settings_for(data_dir: Path, world: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        raw_dir=world / "raw",
        duckdb_path=world / "warehouse.duckdb",
        features_dir=world / "features",
        business_timezone="Asia/Seoul",
    )


def build_model_world(root: Path, config: WorldConfig) -> Path:
    """`root/raw` (the simulated world), `root/warehouse.duckdb` (real ingestion and `dbt
    build`) and `root/features` (the feature models as the Parquet files Feast reads)."""
    write_world(simulate(config), root / "raw")
    build_warehouse(root / "raw", root / "warehouse.duckdb").assert_ok()
    (root / "features").mkdir()
    with connect(root / "warehouse.duckdb", read_only=True) as con:
        for name in FEATURE_MODELS:
            path = root / "features" / f"{name}.parquet"
            con.execute(f"copy gold.feat_{name} to '{path}' (format parquet)")
    return root


def use_model_world(root: Path, raw_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """Point the environment the Definitions read at the warehouse and feature files in `root`
    (models under root/models), apply the Feast repo there and return the warehouse resource."""
    from dagster_project.lib import features

    monkeypatch.setenv("MOPT_PROFILE", "embedded")
    monkeypatch.setenv("MOPT_DATA_DIR", str(root))
    monkeypatch.setenv("MOPT_RAW_DIR", str(raw_dir))
    monkeypatch.setenv("MOPT_DUCKDB_PATH", str(root / "warehouse.duckdb"))
    monkeypatch.setenv("MOPT_FEATURES_DIR", str(root / "features"))
    features.apply_repo(features.feature_store(), root / "features")
    return Warehouse(
        duckdb_path=str(root / "warehouse.duckdb"),
        raw_dir=str(raw_dir),
        features_dir=str(root / "features"),
    )


@pytest.fixture(scope="session")
def model_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model_world(tmp_path_factory.mktemp("model_world"), WORLD)


@pytest.fixture(scope="session")
def store(model_world: Path, tmp_path_factory: pytest.TempPathFactory):
    from dagster_project.lib import features

    settings = settings_for(tmp_path_factory.mktemp("model_feast"), model_world)
    store = features.feature_store(settings, profile="embedded")
    features.apply_repo(store, settings.features_dir)
    return store


@pytest.fixture(scope="session")
def orders(model_world: Path) -> pl.DataFrame:
    from dagster_project.lib.models.pipeline import load_orders

    with connect(model_world / "warehouse.duckdb", read_only=True) as con:
        return load_orders(con)


@pytest.fixture(scope="session")
def training_set(model_world: Path, store, orders: pl.DataFrame):
    from dagster_project.lib.models import pipeline

    return pipeline.build_feature_training_set(
        orders,
        store,
        model_world / "features" / "customer__daily.parquet",
        pipeline.TrainingSetConfig(),
    )


@pytest.fixture(scope="session")
def registry_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model_registry")


@pytest.fixture(scope="session")
def trained(training_set, registry_dir: Path):
    """The purchase and ZILN models trained once, registered as champions."""
    from dagster_project.lib.models import pipeline
    from dagster_project.lib.models.registry import Registry

    registry = Registry(registry_dir)
    return {
        "purchase": pipeline.train_purchase(training_set, registry),
        "ltv": pipeline.train_ltv(training_set, registry),
        "registry": registry,
    }
