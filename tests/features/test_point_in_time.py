"""Training rows get exactly the snapshot values as of their time: the last day complete at t
(within the view's TTL), never a later one. The expected values come from the gold Parquet files
directly (an as-of join in Polars), not from Feast."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from dagster_project.lib import features

US = timedelta(microseconds=1)


def as_of_times(snapshots: pl.DataFrame) -> list:
    """Times around snapshot boundaries: just before one is complete, exactly when, mid-day;
    plus one before all data and one past the TTL after the last snapshot."""
    stamps = snapshots["event_timestamp"].unique().sort()
    picks = [stamps[i] for i in (0, 3, len(stamps) // 2, len(stamps) - 2, len(stamps) - 1)]
    times = [t + d for t in picks for d in (-US, timedelta(0), timedelta(hours=12))]
    return [*times, stamps[0] - timedelta(days=3), stamps[-1] + timedelta(days=3)]


def expected_as_of(
    entity_df: pl.DataFrame, snapshots: pl.DataFrame, key: str, ttl: timedelta
) -> pl.DataFrame:
    return entity_df.sort("event_timestamp").join_asof(
        snapshots.sort("event_timestamp"),
        on="event_timestamp",
        by=key,
        strategy="backward",
        tolerance=ttl,
        check_sortedness=False,
    )


def test_training_rows_get_the_snapshot_as_of_their_time(materialized_store, world_dir: Path):
    snapshots = pl.read_parquet(world_dir / "features" / "customer__daily.parquet")
    customers = snapshots["customer_id"].unique().sort()
    entity_df = pl.DataFrame(
        [(c, t) for c in customers for t in as_of_times(snapshots)],
        schema={"customer_id": pl.String, "event_timestamp": pl.Datetime("us")},
        orient="row",
    ).with_columns(label=pl.int_range(pl.len()))

    result = features.historical_features(
        entity_df, "purchase_probability_v1", store=materialized_store
    )

    assert result.select(entity_df.columns).equals(entity_df), "rows kept in input order"
    columns = [c for c in result.columns if c not in entity_df.columns]
    # The service carries every column of the gold model (keys and timestamps aside).
    bookkeeping = {"customer_id", "snapshot_date", "event_timestamp", "created_timestamp"}
    assert set(columns) == set(snapshots.columns) - bookkeeping
    expected = expected_as_of(
        entity_df,
        snapshots.select("customer_id", "event_timestamp", *columns),
        "customer_id",
        timedelta(days=2),
    ).sort("label")
    assert result.select(columns).equals(expected.select(columns))
    # Not vacuous: most rows found a snapshot, and later data existed for the early ones.
    found = result.filter(pl.col("tenure_days").is_not_null())
    assert found.height > 0.5 * result.height
    assert (found["event_timestamp"] < snapshots["event_timestamp"].max()).any()


def test_a_snapshot_is_invisible_until_its_day_is_complete(materialized_store, world_dir: Path):
    snapshots = pl.read_parquet(world_dir / "features" / "customer__daily.parquet").sort(
        "customer_id", "event_timestamp"
    )
    # A customer whose lifetime orders changed with the day D that completes at t.
    snapshots = snapshots.with_columns(
        previous=pl.col("orders_to_date").shift(1).over("customer_id")
    )
    row = snapshots.filter(pl.col("orders_to_date") > pl.col("previous")).row(0, named=True)
    t = row["event_timestamp"]
    entity_df = pl.DataFrame(
        {"customer_id": [row["customer_id"]] * 2, "event_timestamp": [t - US, t]}
    )
    result = features.historical_features(entity_df, "ltv_v1", store=materialized_store)
    assert result["orders_to_date"].to_list() == [row["previous"], row["orders_to_date"]]


def test_sparse_product_snapshots_expire_after_their_one_day_ttl(
    materialized_store, world_dir: Path
):
    snapshots = pl.read_parquet(world_dir / "features" / "product__daily.parquet")
    products = snapshots["product_id"].unique().sort()[:60]
    entity_df = pl.DataFrame(
        [(p, t) for p in products for t in as_of_times(snapshots)],
        schema={"product_id": pl.String, "event_timestamp": pl.Datetime("us")},
        orient="row",
    )
    refs = ["views_30d", "orders_7d", "conversion_rate_30d", "popularity_rank_in_category"]
    job = materialized_store.get_historical_features(
        entity_df=entity_df.with_columns(
            pl.col("event_timestamp").dt.replace_time_zone("UTC")
        ).to_pandas(),
        features=[f"product_performance:{r}" for r in refs],
    )
    result = (
        pl.from_pandas(job.to_df())
        .with_columns(pl.col("event_timestamp").dt.replace_time_zone(None).dt.cast_time_unit("us"))
        .sort("product_id", "event_timestamp")
    )
    expected = expected_as_of(
        entity_df,
        snapshots.select("product_id", "event_timestamp", *refs),
        "product_id",
        timedelta(days=1),
    ).sort("product_id", "event_timestamp")
    assert result.select(refs).cast(expected.select(refs).schema).equals(expected.select(refs))
    assert result["views_30d"].null_count() > 0, "some products had no row within a day"


@pytest.mark.parametrize("service", ["purchase_probability_v1", "ltv_v1", "campaign_targeting_v1"])
def test_every_feature_service_retrieves(materialized_store, world_dir: Path, service: str):
    """A historical retrieval with the pinned dependencies (DuckDB offline store via ibis and
    pure-Python sqlglot) for each service the models and campaigns use."""
    snapshots = pl.read_parquet(world_dir / "features" / "customer__daily.parquet")
    entity_df = snapshots.select("customer_id", "event_timestamp").tail(20)
    result = features.historical_features(entity_df, service, store=materialized_store)
    assert result.height == 20
    schema = features.service_schema(materialized_store, service)
    assert result.columns[2:] == [name for name, _ in schema]
    assert result.select(pl.col(result.columns[2:]).null_count()).row(0) != tuple(
        [20] * len(schema)
    )
