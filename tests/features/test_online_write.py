"""The bulk online writer stores exactly what Feast's `write_to_online_store` stores: the same
SQLite rows (key, feature, value bytes, value text, timestamps) and the same Redis hashes, for
every view of the repo; and its value encoding equals Feast's on edge cases (negative and large
integers, NaN, infinities, nulls, non-ASCII strings)."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import redis
from feast.infra.online_stores.helpers import extract_text_and_num
from feast.type_map import python_values_to_proto_values
from feast.types import Bool, Float32, Float64, Int32, String

from dagster_project.lib import features, online_stores, online_write
from tests.features.conftest import settings_for

VIEWS = ("customer_profile", "customer_behaviour", "product_performance", "seller_performance")


def _edge_columns() -> dict:
    rng = np.random.default_rng(7)
    n = 5_000
    mask = rng.random(n) < 0.1
    return {
        Float64: pa.array(
            np.r_[rng.normal(0, 1e9, n), [np.nan, 0.0, -0.0, np.inf, -np.inf, 5e-324, 1e16]],
            mask=np.r_[mask, [False] * 7],
        ),
        Float32: pa.array(rng.normal(0, 1, n).astype(np.float32), mask=mask),
        Int32: pa.array(
            np.r_[rng.integers(-(2**31), 2**31, n), [0, -1, 127, 128, 2**31 - 1, -(2**31)]].astype(
                np.int32
            ),
            mask=np.r_[mask, [False] * 6],
        ),
        Bool: pa.array(rng.random(n) < 0.5, mask=mask),
        String: pa.array(
            [None if i % 7 == 0 else "가" * (i % 60) + "x" * (i % 90) for i in range(n)]
        ),
    }


@pytest.mark.parametrize("dtype", [Float64, Float32, Int32, Bool, String], ids=str)
def test_values_encode_as_feasts_protobuf_and_value_text(dtype) -> None:
    column = _edge_columns()[dtype]
    feasts = python_values_to_proto_values(
        column.to_numpy(zero_copy_only=False), dtype.to_value_type()
    )
    assert online_write.encode_values(column, dtype).to_pylist() == [
        v.SerializeToString() for v in feasts
    ]
    assert online_write.value_texts(column, dtype) == [
        extract_text_and_num(v, False)[0] for v in feasts
    ]
    assert any(v.SerializeToString() == b"" for v in feasts), "nulls are covered"


def _newest_rows(store, view_name: str):
    view = store.get_feature_view(view_name)
    _, last = features._timestamp_range(features._source_path(view))
    return view, features.latest_rows(view, None, last)


def _sqlite_rows(store, view_name: str) -> list[tuple]:
    path = store.config.online_store.path
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT entity_key, feature_name, value, value_text, event_ts, created_ts "
            f'FROM "{store.project}_{view_name}" ORDER BY entity_key, feature_name'
        ).fetchall()


def _feasts_store(config: dict) -> features.FeatureStore:
    """A store whose online store is Feast's own class (not the platform's, which writes
    through ``online_write``'s ``sqlite_write_rows``)."""
    config = online_stores.feasts_config(config)
    if config["registry"].get("registry_type") == "file":
        Path(config["registry"]["path"]).parent.mkdir(parents=True, exist_ok=True)
    return features.FeatureStore(
        repo_path=str(features.FEATURE_REPO_DIR),
        config=features.RepoConfig(repo_path=features.FEATURE_REPO_DIR, **config),
    )


def test_sqlite_rows_equal_feasts_write_to_online_store(world_dir: Path, tmp_path: Path) -> None:
    stores = {}
    for name, bulk in (("ours", True), ("feasts", False)):
        settings = settings_for(tmp_path / name, world_dir / "features")
        store = stores[name] = _feasts_store(features.config_dict(settings, "embedded"))
        features.apply_repo(store, settings.features_dir)
        for view_name in VIEWS:
            view, rows = _newest_rows(store, view_name)
            assert online_write.supports(store, view), view_name
            features.write_online(store, view, rows, batch_size=100, bulk=bulk)
    for view_name in VIEWS:
        ours, feasts = (
            _sqlite_rows(stores["ours"], view_name),
            _sqlite_rows(stores["feasts"], view_name),
        )
        assert len(ours) > 100 and ours == feasts, view_name


@pytest.mark.services
def test_redis_hashes_equal_feasts_write_to_online_store(
    world_dir: Path, tmp_path: Path, password_redis, monkeypatch
) -> None:
    monkeypatch.setenv("MOPT_REDIS_URL", password_redis.url)
    monkeypatch.setenv("MOPT_REDIS_PASSWORD", password_redis.password)
    monkeypatch.setenv("FEAST_REGISTRY_URL", "unused")
    host, port = password_redis.url.split(":")
    client = redis.Redis(host=host, port=int(port), password=password_redis.password)
    hashes, stores = {}, []
    try:
        for name, bulk in (("ours", True), ("feasts", False)):
            project = f"mopt_write_{name}_{uuid.uuid4().hex[:6]}"
            settings = settings_for(tmp_path / name, world_dir / "features")
            config = features.config_dict(settings, "production", project)
            config["registry"] = {"registry_type": "file", "path": str(tmp_path / f"{name}.db")}
            store = _feasts_store(config)
            store.config.online_store.key_ttl_seconds = 3_600  # the EXPIRE commands too
            stores.append(store)
            features.apply_repo(store, settings.features_dir)
            for view_name in VIEWS:
                view, rows = _newest_rows(store, view_name)
                assert online_write.supports(store, view), view_name
                features.write_online(store, view, rows, batch_size=100, bulk=bulk)
            suffix = project.encode()
            keys = [k for k in client.scan_iter(match=b"*" + suffix, count=10_000)]
            hashes[name] = {k[: -len(suffix)]: client.hgetall(k) for k in keys}
        assert len(hashes["ours"]) > 300 and hashes["ours"] == hashes["feasts"]
        ttls = {client.ttl(k + stores[0].project.encode()) for k in hashes["ours"]}
        assert ttls and all(0 < t <= 3_600 for t in ttls)
    finally:
        for store in stores:
            store.teardown()
