"""Feast as assets: the registry (`feast apply` of `feature_repo/`) and the online store
(materialization), downstream of the Parquet feature files the transform assets export.

Feast is imported inside the asset bodies: importing it takes ~7-10 s on a small machine, which
every definitions load (UI, code server, tests) would otherwise pay."""

import dataclasses
import hashlib
from datetime import UTC
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from dagster_project.defs import metadata as md
from dagster_project.defs.resources import Warehouse, dbt_project
from dagster_project.defs.transform.assets import model_key
from dagster_project.lib.settings import FEATURE_REPO_DIR, Settings, feature_models

# The gold feature models, written by dbt as the Parquet files the feature repo's sources read
# (feature_repo/data_sources.py); tests/features/test_feature_repo.py checks the two agree. The
# manifest is the one dagster-dbt prepared (`dagster dev` parses the project first).
FEATURE_FILE_KEYS = [model_key(name) for name in feature_models(dbt_project().manifest_path)]
REGISTRY_KEY = dg.AssetKey(["features", "registry"])
ONLINE_STORE_KEY = dg.AssetKey(["features", "online_store"])
SAMPLE_SERVICE = "purchase_probability_v1"
# Customers compared online vs offline after each materialization: enough to catch a wrong or
# missing view, cheap enough (~2 s) to run every day.
CHECK_SAMPLE = 50


@cache
def repo_fingerprint() -> str:
    """A hash of the feature repo's definitions: the registry's code version, so Dagster shows it
    as changed exactly when a feature, view or service changes."""
    digest = hashlib.sha256()
    for path in sorted([*FEATURE_REPO_DIR.glob("*.py"), FEATURE_REPO_DIR / "feature_store.yaml"]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def feast_settings(warehouse: Warehouse) -> Settings:
    """The platform settings, with the feature files where the Warehouse resource writes them."""
    return dataclasses.replace(
        Settings.from_env(), features_dir=Path(warehouse.features_dir).resolve()
    )


def _utc(ts) -> dg.MetadataValue:
    return dg.MetadataValue.timestamp(ts.replace(tzinfo=UTC))


@dg.asset(
    key=REGISTRY_KEY,
    group_name="features",
    kinds={"feast"},
    pool="duckdb",
    deps=FEATURE_FILE_KEYS,
    code_version=repo_fingerprint(),
)
def feature_registry(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Feast's registry: `feast apply` of feature_repo/ (entities customer/product/seller, the
    feature views over the gold snapshots, one feature service per model version). Objects no
    longer defined are removed. File registry under the data dir, or PostgreSQL in production."""
    from dagster_project.lib import features

    settings = feast_settings(warehouse)
    profile = features.active_profile()
    store = features.feature_store(settings)
    result = features.apply_repo(store, settings.features_dir)
    context.log.info("\n".join(result.changes) or "registry unchanged")
    # For the Feast CLI (`feast -c feature_repo -f <this file> serve`): absolute paths, and the
    # production URLs as ${VAR} placeholders that Feast expands, so no secret is written.
    yaml_path = features.store_dir(settings) / "feature_store.yaml"
    yaml_path.parent.mkdir(parents=True, exist_ok=True)
    yaml_path.write_text(features.feature_store_yaml(settings, profile))
    views = features.describe_views(result.feature_views)
    services = features.describe_services(result.feature_services)
    return dg.MaterializeResult(
        metadata={
            "profile": profile,
            "project": store.project,
            "feature_views": md.table(views),
            "feature_services": md.table(services),
            "feature_view_count": views.height,
            "feature_count": int(views["features"].sum()),
            "registry_changes": len(result.changes),
            "registry_diff": dg.MetadataValue.md(
                "\n".join(f"- {c}" for c in result.changes) or "unchanged"
            ),
            "feature_store_yaml": dg.MetadataValue.path(str(yaml_path)),
        }
    )


class OnlineStoreConfig(dg.Config):
    full_refresh: bool = False
    """Reload every view's whole history, not only what is newer than the last run (after gold
    was rebuilt with changed history, or the online store was wiped)."""


@dg.asset(
    key=ONLINE_STORE_KEY,
    group_name="features",
    kinds={"feast"},
    pool="duckdb",
    # gold/product_candidates writes the product axis' files (candidates, embeddings).
    deps=[REGISTRY_KEY, *FEATURE_FILE_KEYS, dg.AssetKey(["gold", "product_candidates"])],
    check_specs=[
        dg.AssetCheckSpec(
            "online_matches_offline",
            asset=ONLINE_STORE_KEY,
            description=f"For up to {CHECK_SAMPLE} customers with a snapshot on the newest day, "
            f"the online {SAMPLE_SERVICE} features equal the newest offline ones (nulls too).",
        )
    ],
)
def online_store(
    context: dg.AssetExecutionContext, config: OnlineStoreConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Feast's online store (SQLite, or Redis in production), loaded from the gold snapshots.
    The first run loads each view's whole history; later runs only what is newer than the last
    run's end. Metadata: rows written per view, freshness (newest event_timestamp), one read."""
    import time

    from dagster_project.lib import features

    settings = feast_settings(warehouse)
    store = features.feature_store(settings)
    started = time.perf_counter()
    runs = features.materialize_online_store(store, full_refresh=config.full_refresh)
    seconds = time.perf_counter() - started
    rows = sum(r.rows for r in runs)
    context.log.info(f"wrote {rows:,} online rows in {seconds:.1f} s")

    metadata: dict[str, Any] = {
        "dagster/row_count": rows,
        "rows_per_second": rows / seconds if seconds else 0.0,
        "materialization": md.table(
            pl.DataFrame(
                [dataclasses.asdict(r) for r in runs],
                schema_overrides={"start": pl.Datetime, "end": pl.Datetime},
            )
        ),
    }
    for r in runs:
        metadata[f"rows_materialized/{r.feature_view}"] = r.rows
        if r.freshness is not None:
            metadata[f"freshness/{r.feature_view}"] = _utc(r.freshness)
    fresh = [r.freshness for r in runs if r.freshness is not None]
    if fresh:
        # The stalest view's newest snapshot: how current the online store is, as a whole.
        metadata["freshness"] = _utc(min(fresh))

    sample = features.newest_entities(store, SAMPLE_SERVICE, CHECK_SAMPLE)
    mismatches: list[str] = []
    if sample:
        metadata["sample_online_read"] = dg.MetadataValue.json(
            features.sample_online_features(feature_service_name=SAMPLE_SERVICE, store=store)
        )
        mismatches = features.online_offline_mismatches(store, SAMPLE_SERVICE, sample)
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name="online_matches_offline",
                passed=bool(sample) and not mismatches,
                metadata={
                    "customers_compared": len(sample),
                    "mismatches": len(mismatches),
                    "examples": dg.MetadataValue.md("\n".join(f"- {m}" for m in mismatches[:10])),
                },
            )
        ],
    )
