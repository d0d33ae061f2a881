"""After materialization the online store holds each entity's newest snapshot, not nulls; the
first run loads the whole history (not only the TTL window before now) and later runs only what
is new."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from dagster_project.lib import features


def latest_rows(path: Path, key: str) -> pl.DataFrame:
    return (
        pl.read_parquet(path)
        .sort("event_timestamp")
        .group_by(key, maintain_order=True)
        .last()
        .sort(key)
    )


def online_refs(store, view: str, ids: list[str], key: str, names: list[str]) -> pl.DataFrame:
    response = store.get_online_features(
        features=[f"{view}:{n}" for n in names], entity_rows=[{key: i} for i in ids]
    )
    return pl.from_dict(response.to_dict()).select(key, *names)


def assert_online_matches(online: pl.DataFrame, latest: pl.DataFrame, key: str) -> None:
    columns = [c for c in online.columns if c != key]
    expected = latest.select(key, *columns).cast(online.schema)
    assert online.sort(key).equals(expected.sort(key))
    # Not nulls: the online store has a value wherever the newest snapshot has one.
    for column in columns:
        assert online[column].null_count() == latest[column].null_count(), column


def test_online_customer_features_equal_the_latest_snapshot(materialized_store, world_dir: Path):
    latest = latest_rows(world_dir / "features" / "customer__daily.parquet", "customer_id")
    ids = latest["customer_id"].to_list()
    online = features.online_features(ids, "purchase_probability_v1", store=materialized_store)
    assert online["customer_id"].to_list() == ids
    assert_online_matches(online, latest, "customer_id")
    for always_set in ("gender", "tenure_days", "sessions_90d", "orders_to_date"):
        assert online[always_set].null_count() == 0, always_set
    # The same through Feast's own offline store (what training sees at the newest time).
    assert (
        features.online_offline_mismatches(materialized_store, "campaign_targeting_v1", ids[:100])
        == []
    )


def test_online_product_and_seller_features_equal_their_latest_snapshot(
    materialized_store, world_dir: Path
):
    for name, view, key in [
        ("product__daily", "product_performance", "product_id"),
        ("seller__daily", "seller_performance", "seller_id"),
    ]:
        latest = latest_rows(world_dir / "features" / f"{name}.parquet", key)
        names = [f.name for f in materialized_store.get_feature_view(view).features]
        online = online_refs(materialized_store, view, latest[key].to_list(), key, names)
        assert_online_matches(online, latest, key)


def test_first_run_loads_history_and_later_runs_are_incremental(settings):
    path = settings.features_dir / "customer__daily.parquet"
    full = pl.read_parquet(path)
    stamps = full["event_timestamp"].unique().sort()
    cutoff = stamps[-6]
    shutil.rmtree(path)  # dbt's folder of date files; a single file serves Feast as well
    full.filter(pl.col("event_timestamp") <= cutoff).write_parquet(path)

    store = features.feature_store(settings)
    features.apply_repo(store, settings.features_dir)
    first = {r.feature_view: r for r in features.materialize_online_store(store)}
    run = first["customer_behaviour"]
    # Data from 2025, long before now: a TTL-window start would have loaded nothing.
    assert (run.mode, run.start, run.end) == ("full", stamps[0], cutoff)
    assert run.rows == full.filter(pl.col("event_timestamp") <= cutoff)["customer_id"].n_unique()
    latest = latest_rows(path, "customer_id")
    assert_online_matches(
        features.online_features(latest["customer_id"], "purchase_probability_v1", store=store),
        latest,
        "customer_id",
    )

    full.write_parquet(path)  # the next gold refresh: five more days
    second = {r.feature_view: r for r in features.materialize_online_store(store)}
    run = second["customer_behaviour"]
    assert (run.mode, run.start, run.end) == ("incremental", cutoff, stamps[-1])
    assert run.rows == full.filter(pl.col("event_timestamp") >= cutoff)["customer_id"].n_unique()
    assert second["seller_performance"].mode == "up_to_date"
    reopened = features.feature_store(settings)  # state lives in the registry, not the object
    latest = latest_rows(path, "customer_id")
    assert latest.height > first["customer_profile"].rows, "customers who signed up since"
    assert_online_matches(
        features.online_features(latest["customer_id"], "purchase_probability_v1", store=reopened),
        latest,
        "customer_id",
    )

    third = features.materialize_online_store(reopened)
    assert {r.mode for r in third} == {"up_to_date"} and sum(r.rows for r in third) == 0
    forced = features.materialize_online_store(reopened, full_refresh=True)
    assert {r.mode for r in forced} == {"full"}
