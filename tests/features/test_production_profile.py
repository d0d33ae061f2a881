"""The production profile against the real servers: the registry on PostgreSQL (a fresh
database), the online store on a Redis that requires a password, as production's does. Skips
without the servers, fails under CI=true."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import polars as pl
import psycopg
import pytest
import redis
from feast import FeatureService

from dagster_project.lib import features
from tests.features.conftest import settings_for

pytestmark = pytest.mark.services


def registry_url(params: dict) -> str:
    auth = params["user"] + (f":{params['password']}" if params.get("password") else "")
    host = params.get("host") or "127.0.0.1"
    return f"postgresql+psycopg://{auth}@{host}:{params.get('port') or 5432}/{params['dbname']}"


def test_production_profile_materializes_to_redis_with_the_registry_on_postgres(
    world_dir: Path, tmp_path: Path, password_redis, fresh_postgres_db: dict, monkeypatch
) -> None:
    host, port = password_redis.url.split(":")
    with pytest.raises(redis.AuthenticationError):  # the server really wants the password
        redis.Redis(host=host, port=int(port)).ping()
    monkeypatch.setenv("MOPT_PROFILE", "production")
    monkeypatch.setenv("MOPT_REDIS_URL", password_redis.url)
    monkeypatch.setenv("MOPT_REDIS_PASSWORD", password_redis.password)
    monkeypatch.setenv("FEAST_REGISTRY_URL", registry_url(fresh_postgres_db))
    settings = settings_for(tmp_path, world_dir / "features")
    # A project of its own: the Redis server may be shared, and keys are scoped by project.
    project = f"mopt_test_{uuid.uuid4().hex[:8]}"
    store = features.feature_store(settings, project=project)
    assert store.config.online_store.type == features.REDIS_ONLINE_STORE  # Feast's, subclassed
    assert store.config.registry.registry_type == "sql"
    try:
        features.apply_repo(store, settings.features_dir)
        runs = features.materialize_online_store(store)
        assert {r.mode for r in runs} == {"full"} and all(r.rows > 0 for r in runs)

        # A new process's view: a fresh store object reads the registry back from PostgreSQL.
        reader = features.feature_store(settings, project=project)
        # The model scores' and the product axis' views have no file until gold/customer_scores
        # and gold/product_candidates run: nothing to load.
        later = {"customer_scores", "customer_candidates"} | {
            f"{axis}_embedding" for axis in ("customer", "product", "seller")
        }
        views = {v.name for v in reader.list_feature_views()} - later
        assert views == {r.feature_view for r in runs}
        latest = (
            pl.read_parquet(world_dir / "features" / "customer__daily.parquet")
            .sort("event_timestamp")
            .group_by("customer_id", maintain_order=True)
            .last()
            .sort("customer_id")
        )
        ids = latest["customer_id"].to_list()
        online = features.online_features(ids, "ltv_v1", store=reader)
        columns = online.columns[1:]
        assert online.equals(latest.select("customer_id", *columns).cast(online.schema))
        assert online["orders_to_date"].null_count() == 0
        assert features.online_offline_mismatches(reader, "purchase_probability_v1", ids) == []
        # Incremental afterwards: nothing new, nothing written.
        assert {r.mode for r in features.materialize_online_store(reader)} == {"up_to_date"}

        # A service added by another process reaches the reader: the SQL registry's
        # last-updated time (whole seconds, hence the pause) tells it to refresh.
        monkeypatch.setattr(features, "REGISTRY_CHECK_INTERVAL_S", 0.0)
        features.refresh_if_changed(reader)
        time.sleep(1.1)
        profile = store.get_feature_view("customer_profile")
        store.apply([FeatureService(name="probe_v1", features=[profile[["region"]]])])
        probe = features.online_features(ids, "probe_v1", store=reader)
        assert probe["region"].to_list() == online["region"].to_list()

        with psycopg.connect(**fresh_postgres_db) as conn:
            stored = conn.execute(
                "select count(*) from feature_views where project_id = %s", (project,)
            ).fetchone()[0]
        assert stored == 9  # four feature views, the model scores and the product axis' four
    finally:
        store.teardown()  # removes the project's keys from Redis
