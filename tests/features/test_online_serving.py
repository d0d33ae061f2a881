"""Online serving as the platform does it: the online store holds what Feast's own
`materialize` writes (each entity's newest row), and reads reuse one store per process that
follows registry changes made elsewhere."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Int32, String
from feast.value_type import ValueType

from dagster_project.lib import features
from tests.features.conftest import settings_for
from tests.features.test_online_store import online_refs

VIEWS = {
    "customer_profile": ("customer__daily", "customer_id"),
    "customer_behaviour": ("customer__daily", "customer_id"),
    "product_performance": ("product__daily", "product_id"),
    "seller_performance": ("seller__daily", "seller_id"),
}


def test_the_online_store_holds_what_feasts_materialize_writes(settings, tmp_path: Path):
    ours = features.feature_store(settings)
    features.apply_repo(ours, settings.features_dir)
    runs = {r.feature_view: r for r in features.materialize_online_store(ours)}
    assert set(runs) == set(VIEWS)

    feasts = features.feature_store(settings_for(tmp_path / "feast", settings.features_dir))
    features.apply_repo(feasts, settings.features_dir)
    for view, (file, key) in VIEWS.items():
        first, last = features._timestamp_range(str(settings.features_dir / f"{file}.parquet"))
        feasts.materialize(first, last, feature_views=[view])
        ids = pl.read_parquet(settings.features_dir / f"{file}.parquet")[key].unique().sort()
        assert runs[view].rows == len(ids)
        names = [f.name for f in ours.get_feature_view(view).features]
        mine = online_refs(ours, view, ids.to_list(), key, names)
        theirs = online_refs(feasts, view, ids.to_list(), key, names)
        assert mine.equals(theirs), view
        # Not vacuous: values, not nulls, for the entities
        assert mine.select(pl.col(names).null_count()).row(0) != tuple([len(ids)] * len(names))


def test_latest_rows_takes_the_newest_row_in_the_window_and_the_later_created(tmp_path: Path):
    t0 = datetime(2025, 5, 1)
    pl.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b"],
            "event_timestamp": [t0, t0 + timedelta(days=1), t0 + timedelta(days=1), t0, t0],
            "created_timestamp": [t0, t0, t0 + timedelta(hours=1), t0, t0 + timedelta(hours=2)],
            "x": [1, 2, 3, 4, 5],
        }
    ).write_parquet(tmp_path / "f.parquet")
    view = FeatureView(
        name="v",
        entities=[Entity(name="c", join_keys=["customer_id"], value_type=ValueType.STRING)],
        schema=[Field(name="customer_id", dtype=String), Field(name="x", dtype=Int32)],
        source=FileSource(
            path=str(tmp_path / "f.parquet"),
            timestamp_field="event_timestamp",
            created_timestamp_column="created_timestamp",
        ),
    )
    latest = features.latest_rows(view, None, t0 + timedelta(days=1)).sort("customer_id")
    assert latest["x"].to_list() == [3, 5]
    # A window that ends before a's second day: its first row; b's tie goes to the later created.
    earlier = features.latest_rows(view, t0, t0 + timedelta(hours=12)).sort("customer_id")
    assert earlier["x"].to_list() == [1, 5]
    assert features.latest_rows(view, t0 + timedelta(days=2), t0 + timedelta(days=3)).is_empty()


def test_online_reads_reuse_one_store_and_follow_registry_changes(settings, monkeypatch):
    monkeypatch.setattr(features, "REGISTRY_CHECK_INTERVAL_S", 0.0)
    writer = features.feature_store(settings)  # another process: the Dagster assets
    features.apply_repo(writer, settings.features_dir)
    features.materialize_online_store(writer)
    ids = features.newest_entities(writer, "ltv_v1", 5)

    before = features.online_features(ids, "ltv_v1", settings)
    store = features.shared_store(settings)
    assert features.online_features(ids, "ltv_v1", settings).equals(before)
    assert features.shared_store(settings) is store, "one store per process and config"
    assert len(before.columns) == 23

    # The other process redefines a service and adds one; the reader's cached registry (60 s)
    # would still answer with the old definitions.
    profile = writer.get_feature_view("customer_profile")
    writer.apply(
        [
            FeatureService(name="ltv_v1", features=[profile[["gender", "region"]]]),
            FeatureService(name="probe_v1", features=[profile[["tenure_days"]]]),
        ]
    )
    after = features.online_features(ids, "ltv_v1", settings)
    assert after.columns == ["customer_id", "gender", "region"]
    assert after.equals(before.select(after.columns))
    probe = features.online_features(ids, "probe_v1", settings)
    assert probe["tenure_days"].to_list() == before["tenure_days"].to_list()
    assert features.shared_store(settings) is store, "refreshed, not rebuilt"


def test_online_response_conversion_equals_feasts_to_arrow(materialized_store) -> None:
    store = materialized_store
    ids = [*features.newest_entities(store, "purchase_probability_v1", 40), "C_UNKNOWN"]
    for service in ("purchase_probability_v1", "ltv_v1", "campaign_targeting_v1"):
        response = store.get_online_features(
            features=store.get_feature_service(service), entity_rows={"customer_id": ids}
        )
        columns = [("customer_id", pa.string()), *features.service_schema(store, service)]
        ours = features.response_table(response, columns)
        feasts = response.to_arrow().select([n for n, _ in columns]).cast(pa.schema(columns))
        assert ours.equals(feasts), service
        assert ours.num_columns > 10 and ours.num_rows == len(ids)
        assert 0 < sum(c.null_count for c in ours.columns) < ours.num_rows * ours.num_columns
