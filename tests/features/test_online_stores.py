"""The platform's online store classes (``lib/online_stores.py``) answer every read exactly as
Feast's own SQLite and Redis stores do, over the same stored bytes: every value, status, event
timestamp and feature name of the response, for present entities, missing ones, repeated ones,
ones present in one view only and ones whose snapshot is long past the views' TTL, at batch 1
and 100, for every customer feature service; in process (sync and, on Redis, async, which is
``feast serve``'s path) and through ``feast serve``. The Redis and ``feast serve`` tests need a
``redis-server`` binary: they skip without one, and fail under CI=true."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
import redis
from feast import FeatureStore, RepoConfig
from feast.feature_server_utils import convert_response_to_dict
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.infra.online_stores.sqlite import SqliteOnlineStore

from dagster_project.lib import features, online_stores
from tests.features.conftest import settings_for

SERVICES = ("purchase_probability_v1", "ltv_v1", "campaign_targeting_v1")
OLD = datetime(2001, 1, 1)  # far past every view's TTL


def _store(config: dict) -> FeatureStore:
    if config["registry"].get("registry_type") == "file":
        Path(config["registry"]["path"]).parent.mkdir(parents=True, exist_ok=True)
    return FeatureStore(
        repo_path=str(features.FEATURE_REPO_DIR),
        config=RepoConfig(repo_path=features.FEATURE_REPO_DIR, **config),
    )


def _pair(config: dict) -> tuple[FeatureStore, FeatureStore]:
    """Our store and Feast's, over the same registry and online data."""
    ours, feasts = _store(config), _store(online_stores.feasts_config(config))
    assert type(feasts._get_provider().online_store) in (SqliteOnlineStore, RedisOnlineStore)
    assert type(ours._get_provider().online_store).__module__ == online_stores.__name__
    return ours, feasts


def _load(store: FeatureStore, features_dir: Path) -> list[str]:
    """Apply and materialize; add an expired customer (profile and behaviour rows dated 2001)
    and one with a profile but no behaviour. Returns request ids: present, missing, expired,
    profile-only, and repeats."""
    features.apply_repo(store, features_dir)
    features.materialize_online_store(store)
    for name, new_id in (
        ("customer_profile", "C_EXPIRED"),
        ("customer_behaviour", "C_EXPIRED"),
        ("customer_profile", "C_PROFILE_ONLY"),
    ):
        view = store.get_feature_view(name)
        _, last = features._timestamp_range(features._source_path(view))
        row = features.latest_rows(view, None, last).head(1)
        row = row.with_columns(
            pl.lit(new_id).alias("customer_id"),
            pl.lit(OLD).cast(row.schema["event_timestamp"]).alias("event_timestamp"),
        )
        if "created_timestamp" in row.columns:
            row = row.with_columns(
                pl.lit(OLD).cast(row.schema["created_timestamp"]).alias("created_timestamp")
            )
        features.write_online(store, view, row, batch_size=10)
    present = features.newest_entities(store, "purchase_probability_v1", 91)
    assert len(present) == 91
    return [
        *present,
        "C_MISSING",
        "C_EXPIRED",
        "C_PROFILE_ONLY",
        present[0],
        "C_MISSING",
        *present[3:6],
        "C_EXPIRED",
    ]


def _requests(ids: list[str]) -> list[list[str]]:
    assert len(ids) == 100
    return [ids[:1], ["C_MISSING"], ["C_EXPIRED"], ["C_PROFILE_ONLY"], ids]


def _assert_same(ours: FeatureStore, feasts: FeatureStore, ids: list[str], read) -> set[int]:
    """Every response of ours equals Feast's; returns the statuses seen."""
    statuses: set[int] = set()
    for service in SERVICES:
        for full_names in (False, True):
            for chunk in _requests(ids):
                mine, theirs = (
                    read(s, s.get_feature_service(service), chunk, full_names)
                    for s in (ours, feasts)
                )
                assert mine == theirs, (service, full_names, chunk[:3], len(chunk))
                assert len(mine.results) > 10 and len(mine.results[0].values) == len(chunk)
                statuses |= {s for r in mine.results for s in r.statuses}
    return statuses


def _sync(store, service, ids, full_names):
    return store.get_online_features(
        features=service, entity_rows={"customer_id": ids}, full_feature_names=full_names
    ).proto


_LOOP = asyncio.new_event_loop()  # one loop: the stores keep their async Redis clients


def _async(store, service, ids, full_names):
    return _LOOP.run_until_complete(
        store.get_online_features_async(
            features=service, entity_rows={"customer_id": ids}, full_feature_names=full_names
        )
    ).proto


def test_sqlite_reads_equal_feasts(world_dir: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, world_dir / "features")
    config = features.config_dict(settings, "embedded", "mopt_read_test")
    assert config["online_store"]["type"] == online_stores.SQLITE_TYPE  # the platform's default
    ours, feasts = _pair(config)
    ids = _load(ours, settings.features_dir)
    statuses = _assert_same(ours, feasts, ids, _sync)
    assert statuses == {1, 3}, "PRESENT and NOT_FOUND both occur"

    # Feature references instead of a service, and the requests ours hands to Feast's code
    # (version metadata), give the same answers too.
    refs = [
        "customer_behaviour:orders_90d",
        "customer_profile:region",
        "customer_behaviour:sessions_30d",
    ]
    for kwargs in ({}, {"include_feature_view_version_metadata": True}):
        mine, theirs = (
            s.get_online_features(features=refs, entity_rows={"customer_id": ids}, **kwargs).proto
            for s in (ours, feasts)
        )
        assert mine == theirs and len(mine.results) == 4


def test_sqlite_online_write_batch_stores_feasts_rows(world_dir: Path, tmp_path: Path) -> None:
    """Feast's own write path (``write_to_online_store``, which Feast's ``materialize`` uses too)
    through our ``online_write_batch``: the same rows as through Feast's."""
    from tests.features.test_online_write import VIEWS, _newest_rows, _sqlite_rows

    rows = {}
    for name in ("ours", "feasts"):
        settings = settings_for(tmp_path / name, world_dir / "features")
        config = features.config_dict(settings, "embedded", "mopt_write_batch")
        store = _store(config if name == "ours" else online_stores.feasts_config(config))
        features.apply_repo(store, settings.features_dir)
        for view_name in VIEWS:
            view, frame = _newest_rows(store, view_name)
            features.write_online(store, view, frame, batch_size=100, bulk=False)
        rows[name] = {v: _sqlite_rows(store, v) for v in VIEWS}
    for view_name in VIEWS:
        assert len(rows["ours"][view_name]) > 100, view_name
        assert rows["ours"][view_name] == rows["feasts"][view_name], view_name


@pytest.fixture
def redis_pair(world_dir: Path, tmp_path: Path, password_redis, monkeypatch):
    monkeypatch.setenv("MOPT_REDIS_URL", password_redis.url)
    monkeypatch.setenv("MOPT_REDIS_PASSWORD", password_redis.password)
    monkeypatch.setenv("FEAST_REGISTRY_URL", "unused")
    settings = settings_for(tmp_path, world_dir / "features")
    project = f"mopt_read_{uuid.uuid4().hex[:6]}"
    config = features.config_dict(settings, "production", project)
    assert config["online_store"]["type"] == online_stores.REDIS_TYPE
    config["registry"] = {"registry_type": "file", "path": str(tmp_path / "registry.db")}
    ours, feasts = _pair(config)
    try:
        ids = _load(ours, settings.features_dir)
        yield ours, feasts, ids, config, password_redis
    finally:
        ours.teardown()


@pytest.mark.services
def test_redis_reads_equal_feasts(redis_pair) -> None:
    ours, feasts, ids, _, server = redis_pair
    # A key Redis expired (key_ttl_seconds): gone, as if never written.
    host, port = server.url.split(":")
    client = redis.Redis(host=host, port=int(port), password=server.password)
    key = online_stores.entity_keys("customer_id", [ids[1]], 3, ours.project.encode())[0]
    assert client.exists(key) and client.pexpire(key, 1)
    time.sleep(0.05)
    assert not client.exists(key)

    for read in (_sync, _async):
        statuses = _assert_same(ours, feasts, ids, read)
        # Feast's Redis store reports even absent entities PRESENT (with empty values).
        assert statuses == {1}
    mine = _sync(ours, ours.get_feature_service(SERVICES[0]), ids, False)
    empty = [sum(not v.WhichOneof("val") for v in r.values) for r in mine.results[1:]]
    assert min(empty) >= 3, "the missing and the expired ids read as empty values"


def _by_name(answer: dict) -> dict:
    return dict(zip(answer["metadata"]["feature_names"], answer["results"], strict=True))


@pytest.mark.services
def test_feast_serve_with_our_store_answers_as_feasts_store(redis_pair, tmp_path: Path) -> None:
    """``feast serve`` loads our class from feature_store.yaml and answers each request with
    Feast's JSON of Feast's own store's response."""
    from dagster_project.lib.bench.features import SERVICE, feast_server

    ours, feasts, ids, config, _ = redis_pair
    yaml_path = tmp_path / "serve" / "feature_store.yaml"
    yaml_path.parent.mkdir()
    import yaml

    yaml_path.write_text(yaml.safe_dump(config))
    with feast_server(yaml_path) as read:
        for chunk in _requests(ids):
            theirs = _sync(feasts, feasts.get_feature_service(SERVICE), chunk, False)
            expected = json.loads(json.dumps(convert_response_to_dict(theirs)))
            # Feast orders a service's views per process (a set): compare feature by feature.
            assert _by_name(read(chunk)) == _by_name(expected)
            assert len(expected["results"]) > 40
    log = (yaml_path.parent / "feast_serve.log").read_text()
    assert "Traceback" not in log
