"""The incrementality model reads customer features with a DuckDB ASOF join for speed; it must
give what Feast's point-in-time retrieval gives for the same moments."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from dagster_project.lib.attribution.customer_features import features_asof
from dagster_project.lib.settings import Settings
from dagster_project.lib.warehouse import connect


def test_asof_join_matches_feast_historical_features(small_world: Path, tmp_path: Path):
    from dagster_project.lib import features

    features_dir = tmp_path / "features"
    features_dir.mkdir()
    with connect(small_world / "warehouse.duckdb", read_only=True) as con:
        for name in ("customer__daily", "product__daily", "seller__daily"):
            con.execute(
                f"copy gold.feat_{name} to '{features_dir / name}.parquet' (format parquet)"
            )
        sample = con.sql(
            "select customer_id, event_timestamp from gold.feat_customer__daily"
            " using sample reservoir(300 rows) repeatable (7)"
        ).pl()
    rng = np.random.default_rng(5)
    # Moments inside the day after a snapshot, exactly on a snapshot, and past the 2-day TTL.
    offsets = rng.choice([0.0, 0.4, 0.9, 2.5, 3.1], sample.height)
    moments = sample.select(
        "customer_id",
        at=pl.col("event_timestamp") + pl.Series([timedelta(days=float(o)) for o in offsets]),
    )
    ours = features_asof(moments, features_dir / "customer__daily.parquet")

    settings = Settings(
        data_dir=tmp_path,
        raw_dir=tmp_path / "raw",
        duckdb_path=tmp_path / "w.duckdb",
        features_dir=features_dir,
        business_timezone="Asia/Seoul",
    )
    store = features.feature_store(settings, profile="embedded")
    features.apply_repo(store, features_dir)
    feast = features.historical_features(
        moments.rename({"at": "event_timestamp"}), "purchase_probability_v1", store=store
    )
    common = [c for c in ours.columns if c in feast.columns]
    assert len(common) >= 20
    left = ours.select(common).with_columns(pl.all().cast(pl.Float64))
    right = feast.select(common).with_columns(pl.all().cast(pl.Float64))
    # Both are null past the TTL, and equal elsewhere.
    assert left.null_count().sum_horizontal().item() > 0
    assert left.equals(right, null_equal=True)
