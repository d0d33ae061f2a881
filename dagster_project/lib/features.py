"""Feast for the platform: the store's configuration for either profile, applying the feature repo,
materializing the online store, and retrieving features for training (point in time) and scoring
(online). Pure Python: the Dagster assets in ``defs/features`` are thin wrappers over this module.

Profiles (one variable, ``MOPT_PROFILE``):

- ``embedded`` (default, no servers): DuckDB offline store over the gold Parquet files, SQLite
  online store and a file registry, both under ``<MOPT_DATA_DIR>/feast/``.
- ``production``: the same offline store, Redis online store at ``MOPT_REDIS_URL`` (host:port,
  with ``MOPT_REDIS_PASSWORD`` when the server requires one) and
  a SQL registry on PostgreSQL at ``FEAST_REGISTRY_URL`` (``postgresql+psycopg://...``).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
from feast import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Project,
    RepoConfig,
)
from feast.data_source import DataSource
from feast.diff.registry_diff import RegistryDiff, TransitionType
from feast.online_response import OnlineResponse, _convert_uuids_for_arrow
from feast.repo_contents import RepoContents
from feast.repo_operations import extract_objects_for_apply_delete
from feast.type_map import feast_value_type_to_python_type
from feast.types import from_feast_to_pyarrow_type
from google.protobuf.message import Message

from dagster_project.lib.settings import FEATURE_REPO_DIR, Settings

PROJECT = "mopt"
PROFILES = ("embedded", "production")
# Registry reads are cached this long; every write (apply, materialize) refreshes the cache.
REGISTRY_CACHE_TTL_S = 60
ENTITY_TIMESTAMP = "event_timestamp"
# Feast's SQLite and Redis online stores with batched reads (and SQLite writes) of the same
# bytes: dagster_project/lib/online_stores.py. Feast imports them by these names.
SQLITE_ONLINE_STORE = "dagster_project.lib.online_stores.FastSqliteOnlineStore"
REDIS_ONLINE_STORE = "dagster_project.lib.online_stores.FastRedisOnlineStore"


def active_profile() -> str:
    profile = os.environ.get("MOPT_PROFILE", "embedded").strip().lower() or "embedded"
    if profile not in PROFILES:
        raise ValueError(f"MOPT_PROFILE={profile!r}: expected one of {', '.join(PROFILES)}")
    return profile


def _required_env(name: str, profile: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ValueError(f"{name} must be set for MOPT_PROFILE={profile} (see .env.example)")
    return value


def offline_store_config() -> dict[str, Any]:
    """DuckDB over the feature files (default), or with ``MOPT_FEAST_OFFLINE_STORE=spark`` Feast's
    Spark offline store over the same files (the repo's sources become SparkSources). Its Spark
    runs in this process, on ``MOPT_SPARK_MASTER`` (default ``local[2]``); a cluster sets its own
    ``spark_conf`` (docs/scale-out.md)."""
    kind = os.environ.get("MOPT_FEAST_OFFLINE_STORE", "duckdb")
    if kind == "duckdb":
        return {"type": "duckdb"}
    if kind != "spark":
        raise ValueError(f"MOPT_FEAST_OFFLINE_STORE must be duckdb or spark, not {kind!r}")
    return {
        "type": "spark",
        "spark_conf": {
            "spark.master": os.environ.get("MOPT_SPARK_MASTER", "local[2]"),
            "spark.sql.shuffle.partitions": os.environ.get("MOPT_SPARK_SHUFFLE_PARTITIONS", "2"),
            # The files' naive timestamps are UTC: read them as Spark TIMESTAMPs in a UTC session
            # (not TIMESTAMP_NTZ, which Feast's point-in-time join does not compare).
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
            "spark.ui.enabled": "false",
        },
    }


def store_dir(settings: Settings) -> Path:
    """Where the embedded profile keeps Feast's registry and SQLite online store."""
    return settings.data_dir / "feast"


def config_dict(
    settings: Settings, profile: str | None = None, project: str = PROJECT, secrets: bool = True
) -> dict[str, Any]:
    """The store's configuration as ``feature_store.yaml`` would hold it. With ``secrets=False``
    the production URLs stay ``${VAR}`` placeholders, which Feast expands when it reads a YAML."""
    profile = profile or active_profile()
    config: dict[str, Any] = {
        "project": project,
        "provider": "local",
        "offline_store": offline_store_config(),
        "entity_key_serialization_version": 3,
        # Let DuckDB keep only each entity's newest row before anything reaches Python: by
        # default Feast pulls every row in the window into Arrow and deduplicates in pandas,
        # which ran out of 23 GB on the 23M-row customer file of a 100k-customer year.
        "materialization": {"pull_latest_features": True, "online_write_batch_size": 10_000},
    }
    if profile == "embedded":
        config["registry"] = {
            "registry_type": "file",
            "path": str(store_dir(settings) / "registry.db"),
            "cache_ttl_seconds": REGISTRY_CACHE_TTL_S,
        }
        config["online_store"] = {
            "type": SQLITE_ONLINE_STORE,
            "path": str(store_dir(settings) / "online_store.db"),
        }
    else:
        registry_url = _required_env("FEAST_REGISTRY_URL", profile)
        redis_url = _required_env("MOPT_REDIS_URL", profile)
        config["registry"] = {
            "registry_type": "sql",
            "path": registry_url if secrets else "${FEAST_REGISTRY_URL}",
            "cache_ttl_seconds": REGISTRY_CACHE_TTL_S,
            # Connections idle between daily runs may have been closed by the server.
            "sqlalchemy_config_kwargs": {"echo": False, "pool_pre_ping": True},
        }
        connection = redis_url if secrets else "${MOPT_REDIS_URL}"
        if os.environ.get("MOPT_REDIS_PASSWORD"):
            # Feast's Redis connection string takes options after the address, comma-separated.
            if "," in os.environ["MOPT_REDIS_PASSWORD"]:
                raise ValueError("MOPT_REDIS_PASSWORD may not contain ',' (Feast splits on it)")
            password = os.environ["MOPT_REDIS_PASSWORD"] if secrets else "${MOPT_REDIS_PASSWORD}"
            connection += f",password={password}"
        config["online_store"] = {
            "type": REDIS_ONLINE_STORE,
            "connection_string": connection,
            # Write without first reading each key's stored timestamp: one round trip instead of
            # two, and a full refresh may rewrite a rebuilt history. Materialization is the only
            # writer (the `duckdb` pool runs one at a time) and writes each entity's newest row.
            "skip_dedup": True,
        }
    return config


def repo_config(
    settings: Settings | None = None, profile: str | None = None, project: str = PROJECT
) -> RepoConfig:
    """Feast's ``RepoConfig`` for a profile (default: ``MOPT_PROFILE``)."""
    settings = settings or Settings.from_env()
    return RepoConfig(repo_path=FEATURE_REPO_DIR, **config_dict(settings, profile, project))


def feature_store(
    settings: Settings | None = None, profile: str | None = None, project: str = PROJECT
) -> FeatureStore:
    """The platform's Feast store for the active profile (``MOPT_PROFILE``)."""
    settings = settings or Settings.from_env()
    config = repo_config(settings, profile, project)
    if config.registry.registry_type == "file":
        # Feast creates only the last folder of the registry path.
        store_dir(settings).mkdir(parents=True, exist_ok=True)
    return FeatureStore(repo_path=str(FEATURE_REPO_DIR), config=config)


# Online reads check whether the registry changed at most this often: a stat of the file
# registry costs microseconds, but a query of the SQL registry ~1 ms, a third of a read.
REGISTRY_CHECK_INTERVAL_S = 1.0
_SHARED_STORES: dict[str, FeatureStore] = {}
_SHARED_LOCK = threading.Lock()


def shared_store(settings: Settings | None = None, profile: str | None = None) -> FeatureStore:
    """This process's store for a configuration, built once (a new ``FeatureStore`` costs ~50 ms,
    ten times a read) and refreshed when its registry changes (an ``apply`` or a
    materialization by any process), so long-lived callers see new views and services."""
    settings = settings or Settings.from_env()
    key = json.dumps(config_dict(settings, profile), sort_keys=True, default=str)
    with _SHARED_LOCK:
        store = _SHARED_STORES.get(key)
        if store is None:
            store = _SHARED_STORES[key] = feature_store(settings, profile)
    return store


def _registry_version(store: FeatureStore) -> object:
    """What changes whenever the registry is written: the file's modification time and size,
    or the SQL registry's last-updated time (whole seconds) for the project."""
    registry = store.config.registry
    if registry.registry_type == "file":
        path = Path(registry.path)
        if not path.is_absolute():
            path = Path(store.repo_path) / path
        stat = path.stat()
        return stat.st_mtime_ns, stat.st_size
    return store.registry._get_last_updated_metadata(store.project)  # type: ignore[attr-defined]


def refresh_if_changed(store: FeatureStore) -> bool:
    """Re-read the registry (and forget the service layouts) if it changed since this store last
    looked (the first look refreshes: the store may have read it before), checking at most
    every ``REGISTRY_CHECK_INTERVAL_S``. True if it refreshed."""
    state = store.__dict__.setdefault("_mopt_registry", {"checked": float("-inf")})
    now = time.monotonic()
    if now - state["checked"] < REGISTRY_CHECK_INTERVAL_S:
        return False
    state["checked"] = now
    version = _registry_version(store)
    if version == state.get("version"):
        return False
    store.refresh_registry()
    store.__dict__.pop("_mopt_service_layouts", None)
    state["version"] = version
    return True


def feature_store_yaml(
    settings: Settings, profile: str | None = None, project: str = PROJECT
) -> str:
    """``feature_store.yaml`` for the active profile with absolute paths and no secrets, for the
    Feast CLI (``feast -c feature_repo -f <this file> serve``)."""
    import yaml

    return yaml.safe_dump(config_dict(settings, profile, project, secrets=False), sort_keys=False)


# ---------------------------------------------------------------------------------------------
# The feature repo


_IMPORT_LOCK = threading.Lock()


@contextmanager
def _repo_on_path(features_dir: Path | None) -> Iterator[list[str]]:
    """Import the repo's modules fresh, as Feast's CLI does (top-level names such as
    ``entities``), with the feature files' folder set, and leave ``sys.modules`` as it was."""
    names = sorted(p.stem for p in FEATURE_REPO_DIR.glob("*.py"))
    env_before = os.environ.get("MOPT_FEATURES_DIR")
    with _IMPORT_LOCK:
        saved = {n: sys.modules.pop(n) for n in names if n in sys.modules}
        sys.path.insert(0, str(FEATURE_REPO_DIR))
        if features_dir is not None:
            os.environ["MOPT_FEATURES_DIR"] = str(features_dir)
        try:
            yield names
        finally:
            if features_dir is not None:
                if env_before is None:
                    os.environ.pop("MOPT_FEATURES_DIR", None)
                else:
                    os.environ["MOPT_FEATURES_DIR"] = env_before
            sys.path.remove(str(FEATURE_REPO_DIR))
            for n in names:
                sys.modules.pop(n, None)
            sys.modules.update(saved)


def load_repo(features_dir: Path | None = None, project: str = PROJECT) -> RepoContents:
    """Every Feast object defined in ``feature_repo/``, with file sources reading
    ``features_dir`` (default: ``MOPT_FEATURES_DIR`` or its default)."""
    contents = RepoContents(
        projects=[Project(name=project, description="Marketing-optimization features")],
        data_sources=[],
        entities=[],
        feature_views=[],
        feature_services=[],
        on_demand_feature_views=[],
        stream_feature_views=[],
        label_views=[],
        permissions=[],
    )
    kinds = [
        (Entity, contents.entities),
        (DataSource, contents.data_sources),
        (FeatureView, contents.feature_views),
        (FeatureService, contents.feature_services),
    ]
    with _repo_on_path(features_dir) as names:
        for name in names:
            module = importlib.import_module(name)
            for attr in sorted(vars(module)):
                obj = getattr(module, attr)
                for kind, found in kinds:
                    if isinstance(obj, kind) and not any(obj is o for o in found):
                        found.append(obj)
    return contents


@dataclass(frozen=True)
class ApplyResult:
    changes: list[str]
    """One line per object created, updated or deleted (empty: the registry was up to date)."""
    feature_views: list[FeatureView]
    feature_services: list[FeatureService]


def _differs(existing: Any, declared: Any) -> bool:
    """A property diff that is more than bookkeeping: Feast reports a view's source as changed
    after every materialization because the source's ``meta`` timestamps moved."""
    if isinstance(existing, Message) and type(existing) is type(declared):
        existing, declared = _without_meta(existing), _without_meta(declared)
    return existing != declared


def _without_meta(message: Message) -> Message:
    copy = type(message)()
    copy.CopyFrom(message)
    if "meta" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("meta")
    return copy


def _changes(registry_diff: RegistryDiff) -> list[str]:
    verbs = {
        TransitionType.CREATE: "created",
        TransitionType.UPDATE: "updated",
        TransitionType.DELETE: "deleted",
    }
    changes = []
    for diff in registry_diff.feast_object_diffs:
        verb = verbs.get(diff.transition_type)
        if verb is None or diff.name.startswith("__"):  # Feast's internal dummy entity
            continue
        kind = diff.feast_object_type.value.lower()
        if diff.transition_type == TransitionType.UPDATE:
            properties = [
                p.property_name
                for p in diff.feast_object_property_diffs
                if _differs(p.val_existing, p.val_declared)
            ]
            if properties:
                changes.append(f"{verb} {kind} {diff.name}: {', '.join(properties)}")
        else:
            changes.append(f"{verb} {kind} {diff.name}")
    return changes


def apply_repo(store: FeatureStore, features_dir: Path | None = None) -> ApplyResult:
    """``feast apply``: register the repo's objects, delete the ones no longer defined, and create
    the online store's tables. Materialization state (what was loaded when) is kept."""
    repo = load_repo(features_dir, store.project)
    registry_diff, _, _ = store.plan(repo)
    to_apply, to_delete, _, _ = extract_objects_for_apply_delete(
        store.project, store.registry, repo
    )
    store.apply(to_apply, objects_to_delete=to_delete, partial=False)
    return ApplyResult(
        changes=_changes(registry_diff),
        feature_views=repo.feature_views,
        feature_services=repo.feature_services,
    )


# ---------------------------------------------------------------------------------------------
# The online store


@dataclass(frozen=True)
class ViewMaterialization:
    """One feature view's materialization: ``mode`` is ``full`` (first run, or a forced reload:
    the whole history), ``incremental`` (from the previous run's end) or ``up_to_date``."""

    feature_view: str
    mode: str
    start: datetime | None
    end: datetime | None
    rows: int
    freshness: datetime | None


def _source_path(view: FeatureView) -> str:
    return view.batch_source.path  # type: ignore[union-attr]


def _timestamp_range(path: str) -> tuple[datetime | None, datetime | None]:
    bounds = (
        pl.scan_parquet(path)
        .select(pl.col(ENTITY_TIMESTAMP).min().alias("lo"), pl.col(ENTITY_TIMESTAMP).max())
        .collect()
    )
    return bounds["lo"][0], bounds[ENTITY_TIMESTAMP][0]


def _naive_utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo is None else ts.astimezone(UTC).replace(tzinfo=None)


def latest_rows(view: FeatureView, start: datetime | None, end: datetime) -> pl.DataFrame:
    """Each entity's newest row with ``start <= event_timestamp <= end`` (no ``start``: all
    history), the later ``created_timestamp`` winning a tie: what Feast's ``materialize(start,
    end)`` writes online. Only the keys and timestamps of every row are read; whole rows only
    from the oldest of those newest timestamps on (for daily-dense customers, the last day)."""
    source = view.batch_source
    keys = [c.name for c in view.entity_columns]
    ts, created = source.timestamp_field, source.created_timestamp_column
    order = [ts, created] if created else [ts]
    window = pl.col(ts) <= end
    if start is not None:
        window &= pl.col(ts) >= start
    scan = pl.scan_parquet(_source_path(view)).filter(window)
    newest = scan.select(*keys, ts).group_by(keys).agg(pl.col(ts).max()).collect()
    if newest.is_empty():
        return scan.head(0).collect()
    oldest_newest = newest[ts].min()
    return (
        scan.filter(pl.col(ts) >= oldest_newest)
        .join(newest.lazy(), on=[*keys, ts], how="semi")
        .sort(order)
        .unique(subset=keys, keep="last", maintain_order=True)
        .collect()
    )


def write_online(
    store: FeatureStore, view: FeatureView, rows: pl.DataFrame, batch_size: int, bulk: bool = True
) -> None:
    """Write rows (one per entity) to the online store, ``batch_size`` rows at a time: with
    ``bulk``, through ``online_write`` (the bytes Feast writes, encoded a column at a time) where
    it supports the view and store, else through Feast's ``write_to_online_store``. Arrow-backed
    pandas keeps integer nulls as nulls (NumPy-backed pandas would turn them into floats)."""
    from dagster_project.lib import online_write

    columns = [
        *(c.name for c in view.entity_columns),
        *(f.name for f in view.features),
        view.batch_source.timestamp_field,
        *(
            [view.batch_source.created_timestamp_column]
            if view.batch_source.created_timestamp_column
            else []
        ),
    ]
    if bulk and online_write.write(store, view, rows.select(columns).to_arrow(), batch_size):
        return
    for batch in rows.select(columns).iter_slices(batch_size):
        frame = batch.to_pandas(use_pyarrow_extension_array=True)
        store.write_to_online_store(view.name, df=frame)


# Rows per `write_to_online_store` call: `mopt bench features` measured 1k, 10k and 50k.
ONLINE_WRITE_BATCH = 10_000


def materialize_online_store(
    store: FeatureStore, full_refresh: bool = False, batch_size: int = ONLINE_WRITE_BATCH
) -> list[ViewMaterialization]:
    """Load the online store from the offline files: each entity's newest row, the same rows
    Feast's ``materialize`` would write, but read with Polars (keys and timestamps of every row,
    whole rows only where needed) and written by ``write_online`` (the bytes Feast writes); the
    interval is recorded in the registry as ``materialize`` records it. A view never
    materialized before (or any view, with ``full_refresh``) gets its whole history: Feast's
    ``materialize_incremental`` would start at now - TTL and load nothing from older data.
    Later runs write the newest row of each entity seen since the previous run's end."""
    from concurrent.futures import Future, ThreadPoolExecutor

    results: dict[str, ViewMaterialization] = {}
    planned = []
    ranges: dict[str, tuple[datetime | None, datetime | None]] = {}
    for view in sorted(store.list_feature_views(), key=lambda v: v.name):
        if not view.online:
            continue
        path = _source_path(view)
        if not Path(path).exists():
            # A view whose file a later asset writes (gold/customer_scores before its first run).
            continue
        if path not in ranges:
            ranges[path] = _timestamp_range(path)
        first, last = ranges[path]
        if last is None:
            results[view.name] = ViewMaterialization(view.name, "up_to_date", None, None, 0, None)
            continue
        previous_end = (
            max(_naive_utc(end) for _, end in view.materialization_intervals)
            if view.materialization_intervals
            else None
        )
        if previous_end is None or full_refresh:
            planned.append((view, "full", first, last))
        elif last > previous_end:
            planned.append((view, "incremental", previous_end, last))
        else:
            results[view.name] = ViewMaterialization(view.name, "up_to_date", None, None, 0, last)

    # Read the next views' rows (Polars, off the GIL) while this one is written (SQLite and
    # socket I/O release it too); views over the same file (customer profile and behaviour)
    # share one read.
    with ThreadPoolExecutor(max_workers=1) as reader:
        reads: dict[tuple, Future[pl.DataFrame]] = {}
        for view, mode, start, last in planned:
            key = _read_key(view, mode, start, last)
            if key not in reads:
                window = None if mode == "full" else start
                reads[key] = reader.submit(latest_rows, view, window, last)
        for view, mode, start, last in planned:
            rows = reads[_read_key(view, mode, start, last)].result()
            write_online(store, view, rows, batch_size)
            store.registry.apply_materialization(
                view, store.project, start.replace(tzinfo=UTC), last.replace(tzinfo=UTC)
            )
            results[view.name] = ViewMaterialization(
                view.name, mode, start, last, rows.height, last
            )
    return [results[name] for name in sorted(results)]


def _read_key(view: FeatureView, mode: str, start: datetime, last: datetime) -> tuple:
    """What ``latest_rows`` reads for a view: views with equal keys read the same rows."""
    source = view.batch_source
    keys = tuple(c.name for c in view.entity_columns)
    window = None if mode == "full" else start
    return (
        _source_path(view),
        window,
        last,
        keys,
        source.timestamp_field,
        source.created_timestamp_column,
    )


# ---------------------------------------------------------------------------------------------
# Retrieval


def historical_features(
    entity_df: pl.DataFrame,
    feature_service_name: str,
    settings: Settings | None = None,
    *,
    store: FeatureStore | None = None,
) -> pl.DataFrame:
    """Point-in-time-correct features for training, through Feast's historical retrieval.

    ``entity_df`` has the entity ids (e.g. ``customer_id``) and ``event_timestamp``: the as-of
    time of each row, naive UTC (or time-zone aware). Each row gets, per feature view of the
    service, the latest snapshot whose ``event_timestamp`` is at or before its as-of time and
    within the view's TTL, never a later one; with no such snapshot the features are null. Other
    columns (labels, weights) pass through. Rows come back in the input order, with the features
    after the input's columns, named as in the feature views.
    """
    if ENTITY_TIMESTAMP not in entity_df.columns:
        raise ValueError(f"entity_df needs an {ENTITY_TIMESTAMP!r} column (the as-of time)")
    store = store or feature_store(settings)
    service = store.get_feature_service(feature_service_name)
    ts_dtype = entity_df.schema[ENTITY_TIMESTAMP]
    # Int64, not the index's UInt32, which Spark's offline store cannot take as Arrow
    frame = entity_df.with_row_index("__row").with_columns(pl.col("__row").cast(pl.Int64))
    if isinstance(ts_dtype, pl.Datetime) and ts_dtype.time_zone is None:
        frame = frame.with_columns(pl.col(ENTITY_TIMESTAMP).dt.replace_time_zone("UTC"))
    job = store.get_historical_features(entity_df=frame.to_pandas(), features=service)
    result = pl.from_arrow(job.to_arrow())
    assert isinstance(result, pl.DataFrame)
    features = [c for c in result.columns if c not in frame.columns]
    return (
        result.sort("__row")
        .select(*entity_df.columns, *features)
        .with_columns(pl.col(ENTITY_TIMESTAMP).cast(ts_dtype))
    )


@dataclass(frozen=True)
class ServiceLayout:
    """What online reads need to know about a feature service, looked up once: each registry
    lookup rebuilds Python objects from protobuf (~15 ms here), more than a read of one row."""

    service: FeatureService
    join_key: str
    schema: list[tuple[str, pa.DataType]]
    loaded_at: float


def service_layout(store: FeatureStore, feature_service_name: str) -> ServiceLayout:
    """The service, its one join key (e.g. ``customer_id``) and its features in order with their
    Arrow types; cached on the store for as long as Feast caches the registry."""
    cache: dict[str, ServiceLayout] = store.__dict__.setdefault("_mopt_service_layouts", {})
    layout = cache.get(feature_service_name)
    if layout is not None and time.monotonic() - layout.loaded_at < REGISTRY_CACHE_TTL_S:
        return layout
    service = store.get_feature_service(feature_service_name)
    keys = {
        column.name
        for projection in service.feature_view_projections
        for column in store.get_feature_view(projection.name).entity_columns
    }
    if len(keys) != 1:
        raise ValueError(f"{feature_service_name} joins on {sorted(keys)}, not one key")
    schema = [
        (field.name, from_feast_to_pyarrow_type(field.dtype))
        for projection in service.feature_view_projections
        for field in projection.features
    ]
    layout = ServiceLayout(service, keys.pop(), schema, time.monotonic())
    cache[feature_service_name] = layout
    return layout


def service_join_key(store: FeatureStore, feature_service_name: str) -> str:
    """The one join key a feature service's views share (e.g. ``customer_id``)."""
    return service_layout(store, feature_service_name).join_key


def service_schema(store: FeatureStore, feature_service_name: str) -> list[tuple[str, pa.DataType]]:
    """A feature service's features in order, with their Arrow types."""
    return service_layout(store, feature_service_name).schema


# Value kinds whose Python value is the protobuf field itself (Feast's
# `feast_value_type_to_python_type` returns `getattr(value, kind)` for them).
_SCALAR_KINDS = frozenset(
    ("string_val", "int32_val", "int64_val", "double_val", "float_val", "bool_val", "bytes_val")
)


def response_table(
    response: OnlineResponse, columns: Sequence[tuple[str, pa.DataType]]
) -> pa.Table:
    """Feast's ``OnlineResponse.to_arrow()`` with ``columns`` (name, Arrow type) selected and cast,
    each column built once at its type: scalar values are read straight off their protobuf
    field instead of through Feast's per-value type dispatch (half of a 100-customer read's
    time), other kinds (lists, timestamps, maps) still go through Feast's conversion. A value
    that does not fit its type (an integer out of range) raises, as a cast would."""
    proto = response.proto
    values = _convert_uuids_for_arrow(
        {
            name: [
                getattr(v, kind)
                if (kind := v.WhichOneof("val")) in _SCALAR_KINDS
                else None
                if kind is None
                else feast_value_type_to_python_type(v)
                for v in vector.values
            ]
            for name, vector in zip(proto.metadata.feature_names.val, proto.results, strict=True)
        }
    )
    schema = pa.schema(columns)
    return pa.Table.from_arrays(
        [pa.array(values[f.name], type=f.type) for f in schema], schema=schema
    )


def online_features(
    entity_ids: Sequence[str],
    feature_service_name: str,
    settings: Settings | None = None,
    *,
    store: FeatureStore | None = None,
) -> pl.DataFrame:
    """The latest materialized features of one or many entities (customers, for the customer
    services), one row per id in the given order; unknown ids get nulls. Online reads do not
    apply the views' TTL: an entity keeps its last materialized values. Without ``store``, the
    process's shared store for ``settings`` (``shared_store``)."""
    store = store or shared_store(settings)
    refresh_if_changed(store)
    layout = service_layout(store, feature_service_name)
    response = store.get_online_features(
        features=layout.service, entity_rows={layout.join_key: list(entity_ids)}
    )
    # Feast returns the features in no fixed order and widens integers: give them the service's
    # order and the views' types, the same as historical retrieval gives training.
    columns = [(layout.join_key, pa.string()), *layout.schema]
    frame = pl.from_arrow(response_table(response, columns))
    assert isinstance(frame, pl.DataFrame)
    return frame


def latest_offline_features(
    store: FeatureStore, feature_service_name: str, entity_ids: Sequence[str]
) -> pl.DataFrame:
    """Each entity's newest snapshot as the offline store has it (historical retrieval as of just
    after the newest row): what the online store must hold after a full materialization."""
    key = service_join_key(store, feature_service_name)
    service = store.get_feature_service(feature_service_name)
    newest = max(
        _timestamp_range(_source_path(store.get_feature_view(p.name)))[1]
        for p in service.feature_view_projections
    )
    as_of = pl.DataFrame({key: list(entity_ids)}).with_columns(
        pl.lit(newest + timedelta(seconds=1)).alias(ENTITY_TIMESTAMP)
    )
    return historical_features(as_of, feature_service_name, store=store).drop(ENTITY_TIMESTAMP)


def with_features_dir(settings: Settings, features_dir: str | Path) -> Settings:
    """Settings whose feature files live in ``features_dir`` (e.g. the Warehouse resource's)."""
    return replace(settings, features_dir=Path(features_dir).resolve())


# ---------------------------------------------------------------------------------------------
# Descriptions and checks (for the Dagster UI, the CLI and tests)


def describe_views(views: Sequence[FeatureView]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "feature_view": v.name,
                "entities": ", ".join(v.entities),
                "features": len(v.features),
                "ttl_hours": v.ttl.total_seconds() / 3600 if v.ttl else None,
                "source": _source_path(v),
            }
            for v in sorted(views, key=lambda v: v.name)
        ]
    )


def describe_services(services: Sequence[FeatureService]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "feature_service": s.name,
                "feature_views": ", ".join(p.name for p in s.feature_view_projections),
                "features": sum(len(p.features) for p in s.feature_view_projections),
            }
            for s in sorted(services, key=lambda s: s.name)
        ]
    )


def newest_entities(store: FeatureStore, feature_service_name: str, limit: int) -> list[str]:
    """Up to ``limit`` entity ids (sorted) that have a row at the newest ``event_timestamp`` of
    every view of the service: entities whose online values must match the offline ones."""
    key = service_join_key(store, feature_service_name)
    service = store.get_feature_service(feature_service_name)
    paths = {_source_path(store.get_feature_view(p.name)) for p in service.feature_view_projections}
    ids: set[str] | None = None
    for path in paths:
        newest = pl.scan_parquet(path).filter(
            pl.col(ENTITY_TIMESTAMP) == pl.col(ENTITY_TIMESTAMP).max()
        )
        found = set(newest.select(key).collect()[key].to_list())
        ids = found if ids is None else ids & found
    return sorted(ids or [])[:limit]


def online_offline_mismatches(
    store: FeatureStore, feature_service_name: str, entity_ids: Sequence[str]
) -> list[str]:
    """``entity/feature`` pairs where the online store disagrees with the newest offline
    snapshot, or holds null where the offline value is not null. Empty means they agree."""
    key = service_join_key(store, feature_service_name)
    online = online_features(entity_ids, feature_service_name, store=store)
    offline = latest_offline_features(store, feature_service_name, entity_ids)
    mismatches = []
    for column in online.columns:
        if column == key:
            continue
        pairs = zip(entity_ids, online[column].to_list(), offline[column].to_list(), strict=True)
        for entity_id, on, off in pairs:
            same = on == off or (
                isinstance(on, float) and isinstance(off, float) and abs(on - off) <= 1e-9
            )
            if not same:
                mismatches.append(f"{entity_id}/{column}: online {on!r}, offline {off!r}")
    return mismatches


def sample_online_features(
    settings: Settings | None = None,
    feature_service_name: str = "purchase_probability_v1",
    *,
    store: FeatureStore | None = None,
) -> dict[str, Any]:
    """One customer's online features as ``{feature: value}``, for the Dagster UI and ``make
    demo``: of the customers with a snapshot on the newest day, the one with the most orders (an
    inactive customer is mostly zeros and nulls). Empty if there is nothing to read."""
    store = store or feature_store(settings)
    layout = service_layout(store, feature_service_name)
    path = _source_path(store.get_feature_view(layout.service.feature_view_projections[0].name))
    newest = pl.scan_parquet(path).filter(
        pl.col(ENTITY_TIMESTAMP) == pl.col(ENTITY_TIMESTAMP).max()
    )
    order = [c for c in ("orders_to_date", "sessions_90d") if c in newest.collect_schema()]
    top = (
        newest.sort([*order, layout.join_key], descending=[*(True for _ in order), False])
        .select(layout.join_key)
        .head(1)
        .collect()
    )
    if top.is_empty():
        return {}
    return online_features(top[layout.join_key], feature_service_name, store=store).to_dicts()[0]
