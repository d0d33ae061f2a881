"""Feast's Spark offline store (MOPT_FEAST_OFFLINE_STORE=spark: the repo's sources become
SparkSources over the same gold Parquet files) gives the same point-in-time training set as the
DuckDB offline store, for the same entity rows: Spark local[2] in this process, Java 17."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dagster_project.lib import features
from tests.features.conftest import settings_for
from tests.features.test_point_in_time import as_of_times

SERVICE = "purchase_probability_v1"


def _training_set(data_dir: Path, features_dir: Path, entity_df: pl.DataFrame) -> pl.DataFrame:
    """An applied store on its own registry, then the service's historical retrieval."""
    store = features.feature_store(settings_for(data_dir, features_dir), profile="embedded")
    features.apply_repo(store, features_dir)
    return features.historical_features(entity_df, SERVICE, store=store)


@pytest.mark.slow
def test_spark_offline_store_gives_the_same_training_set_as_duckdb(
    world_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    features_dir = world_dir / "features"
    snapshots = pl.read_parquet(features_dir / "customer__daily.parquet")
    # Every 5th customer at times around snapshot boundaries, before all data and past the TTL.
    customers = snapshots["customer_id"].unique().sort().gather_every(5)
    entity_df = pl.DataFrame(
        [(c, t) for c in customers for t in as_of_times(snapshots)],
        schema={"customer_id": pl.String, "event_timestamp": pl.Datetime("us")},
        orient="row",
    ).with_columns(label=pl.int_range(pl.len()))

    monkeypatch.setenv("MOPT_FEAST_OFFLINE_STORE", "duckdb")
    on_duckdb = _training_set(tmp_path / "duckdb", features_dir, entity_df)
    monkeypatch.setenv("MOPT_FEAST_OFFLINE_STORE", "spark")
    store = features.feature_store(
        settings_for(tmp_path / "spark", features_dir), profile="embedded"
    )
    assert store.config.offline_store.type == "spark"
    on_spark = _training_set(tmp_path / "spark", features_dir, entity_df)

    feature_columns = [c for c in on_duckdb.columns if c not in entity_df.columns]
    assert len(feature_columns) >= 40, feature_columns
    filled = on_duckdb.filter(pl.col("sessions_30d").is_not_null()).height
    # rows with a snapshot in force, and rows with none (before the data, past the TTL)
    assert 0 < filled < on_duckdb.height, (filled, on_duckdb.height)
    assert on_spark.select(entity_df.columns).equals(entity_df), "rows kept in input order"
    assert_frame_equal(on_spark, on_duckdb, check_dtypes=False, abs_tol=1e-9)
