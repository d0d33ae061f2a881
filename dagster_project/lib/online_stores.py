"""Feast online stores that read (and, for SQLite, write) the same bytes as Feast's own Redis and
SQLite stores, a request at a time instead of a value at a time. The feature repo names them in
``feature_store.yaml`` (``online_store: type: dagster_project.lib.online_stores.Fast...``), the
way Feast takes a custom online store, so ``FeatureStore.get_online_features``, its async twin
and ``feast serve`` all use them; the registry, feature services and the stored data are Feast's.

Where Feast 0.67 spends a read of ``purchase_probability_v1`` (2 views, 45 features) for 100
customers: one HMGET per view and customer built and parsed by redis-py, one ``Value`` message
parsed per value, then ``_populate_response_from_feature_data`` copies every value and status
into the response's ``FeatureVector`` messages in Python. Here ``_read_features_per_fv`` (the
hook ``OnlineStore.get_online_features`` calls; Feast's docstring invites subclasses to batch
it) sends one pre-encoded HMGET per customer for all the views that share its key, and writes
each ``FeatureVector`` as protobuf wire bytes straight from the stored ``Value`` bytes (a stored
value is a serialized ``Value``: a vector's values are those bytes, each behind a tag and a
length), which the response then parses in C. Statuses, timestamps, duplicates and missing
entities follow Feast's rules exactly (``tests/features/test_online_stores.py`` compares every
response with Feast's store's). Requests these stores do not handle (several join keys,
non-string keys, version metadata, Redis Cluster or Sentinel, vector or text-search SQLite)
go to Feast's implementation.
"""

from __future__ import annotations

import itertools
import struct
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _mmh3
from feast.infra.online_stores.redis import (
    RedisOnlineStore,
    RedisOnlineStoreConfig,
    RedisType,
    _versioned_fv_name,
)
from feast.infra.online_stores.sqlite import (
    SqliteOnlineStore,
    SqliteOnlineStoreConfig,
    _quote_id,
    _table_id,
)
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from google.protobuf.timestamp_pb2 import Timestamp

from dagster_project.lib.online_write import _varints, sqlite_write_rows

MODULE = __name__
SQLITE_TYPE = f"{MODULE}.FastSqliteOnlineStore"
REDIS_TYPE = f"{MODULE}.FastRedisOnlineStore"
# Feast's own store type for each of ours (the reference the tests compare with).
FEAST_TYPES = {SQLITE_TYPE: "sqlite", REDIS_TYPE: "redis"}

_PRESENT, _NOT_FOUND = 1, 3  # feast.serving.FieldStatus
_EMPTY = pa.scalar(b"", pa.large_binary())


# ---------------------------------------------------------------------------------------------
# Requests: which entities each view needs


class _Unsupported(Exception):
    """The request needs Feast's general implementation."""


class _ViewRequest:
    """One feature view of a request: its requested features and its entities (one string join
    key), deduplicated, with each output row's entity."""

    def __init__(self, table, features: list[str], join_key: str, ids: list[str]):
        self.table = table
        self.features = features
        self.join_key = join_key
        self.unique, inverse = np.unique(np.asarray(ids, dtype=object), return_inverse=True)
        self.inverse = inverse.astype(np.int64)
        self.output_len = len(ids)


def _view_requests(grouped_refs, join_key_values, entity_name_to_join_key_map, options) -> list:
    from feast import utils

    if options["include_feature_view_version_metadata"]:
        raise _Unsupported
    requests = []
    for table, requested in grouped_refs:
        values = utils._get_table_entity_values(table, entity_name_to_join_key_map, join_key_values)
        if len(values) != 1:
            raise _Unsupported
        [(join_key, protos)] = values.items()
        if not protos or any(p.WhichOneof("val") != "string_val" for p in protos):
            raise _Unsupported
        features = [f for f in requested if not f.startswith("_ts:")]
        requests.append(_ViewRequest(table, features, join_key, [p.string_val for p in protos]))
    return requests


_KEY_PREFIXES: dict[tuple[str, int], bytes] = {}


def entity_keys(join_key: str, ids, version: int, suffix: bytes = b"") -> list[bytes]:
    """Feast's ``serialize_entity_key`` of each string id (+ ``suffix``): a fixed prefix per join
    key, the id's length as uint32 and its UTF-8 bytes. The prefix is cut from Feast's own
    serialization of one id, and the first key is checked against Feast's."""
    prefix = _KEY_PREFIXES.get((join_key, version))
    if prefix is None:
        sample = _feast_key(join_key, "x", version)
        prefix = _KEY_PREFIXES[(join_key, version)] = sample[: -(4 + 1)]
    encoded = [i.encode() for i in ids]
    keys = [b"".join((prefix, struct.pack("<I", len(e)), e, suffix)) for e in encoded]
    if keys and keys[0] != _feast_key(join_key, str(ids[0]), version) + suffix:
        raise RuntimeError(f"entity key encoding differs from Feast's for {join_key}")
    return keys


def _feast_key(join_key: str, value: str, version: int) -> bytes:
    proto = EntityKeyProto(join_keys=[join_key], entity_values=[ValueProto(string_val=value)])
    return serialize_entity_key(proto, entity_key_serialization_version=version)


# ---------------------------------------------------------------------------------------------
# Responses: FeatureVector messages as protobuf wire bytes


def _delimited(tag: int, items: pa.Array) -> tuple[np.ndarray, memoryview]:
    """Each item as a length-delimited protobuf field (``tag``, varint length, bytes), back to
    back: the offsets of the encoded items and their bytes."""
    items = items.fill_null(b"")
    lengths = pc.binary_length(items).to_numpy(zero_copy_only=False).astype(np.int64)
    prefix = _varints(tag, lengths, np.ones(len(lengths), dtype=bool))
    joined = pc.binary_join_element_wise(prefix, pc.cast(items, pa.large_binary()), _EMPTY)
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64)[
        joined.offset : joined.offset + len(joined) + 1
    ]
    return offsets - offsets[0], memoryview(joined.buffers()[2])[offsets[0] : offsets[-1]]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


# Up to this many values a response is encoded in plain Python (a few small Arrow and NumPy
# calls cost more than the values at batch 1); beyond, a column at a time with Arrow.
SMALL_RESPONSE = 1_000
_LENGTHS = [bytes([n]) for n in range(128)]


def _delimited_small(tag: bytes, items: list) -> list[bytes]:
    out = []
    for item in items:
        item = item or b""
        n = len(item)
        out.append(tag + (_LENGTHS[n] if n < 128 else _varint(n)) + item)
    return out


def _vectors(
    values: list, cells: np.ndarray, present: np.ndarray, timestamps: list[bytes], view
) -> bytes:
    """``GetOnlineFeaturesResponse.results`` entries (field 2) for one view: per requested
    feature, a ``FeatureVector`` of every output row's value, status and event timestamp, as
    Feast's ``_populate_response_from_feature_data`` builds them. ``values`` holds serialized
    ``Value`` messages (None for an empty one), ``cells[u, j]`` the position in it of unique
    entity ``u``'s feature ``j``, ``present[u, j]`` whether its status is PRESENT (else
    NOT_FOUND), and ``timestamps[u]`` the entity's serialized ``Timestamp``."""
    width, rows = len(view.features), view.output_len
    if not width:
        return b""
    order = cells[view.inverse].T.ravel()
    if width * rows <= SMALL_RESPONSE:
        encoded = _delimited_small(b"\x0a", [values[i] for i in order.tolist()])
        parts = [b"".join(encoded[j * rows : (j + 1) * rows]) for j in range(width)]
        ts_part = b"".join(_delimited_small(b"\x1a", [timestamps[u] for u in view.inverse]))
    else:
        offsets, data = _delimited(0x0A, pa.array(values, pa.binary()).take(order))
        parts = [data[offsets[j * rows] : offsets[(j + 1) * rows]] for j in range(width)]
        stamps = pa.array(timestamps, pa.binary()).take(view.inverse)
        ts_part = bytes(_delimited(0x1A, stamps)[1])
    statuses = np.where(present[view.inverse].T, _PRESENT, _NOT_FOUND).astype(np.uint8)
    status_head = b"\x12" + _varint(rows)
    out = []
    for j in range(width):
        vector = b"".join((parts[j], status_head, statuses[j].tobytes(), ts_part))
        out += [b"\x12", _varint(len(vector)), vector]
    return b"".join(out)


def _append(response, view: _ViewRequest, full_feature_names: bool, vectors: bytes, present):
    """Append one view's features to the response, as Feast does (feature names, then the
    vectors), and count statuses for Feast's metrics."""
    name = view.table.projection.name_to_use()
    response.metadata.feature_names.val.extend(
        [f"{name}__{f}" if full_feature_names else f for f in view.features]
    )
    response.MergeFromString(vectors)
    try:
        from feast.metrics import track_feature_statuses

        rows = present[view.inverse]
        found = int(rows.sum())
        track_feature_statuses(view.table.name, found, rows.size - found)
    except Exception:  # noqa: BLE001 - Feast ignores metrics failures too
        pass


_TS_CACHE: dict[tuple, bytes] = {}


def _response_timestamp(stored: Any, to_datetime) -> bytes:
    """The serialized ``Timestamp`` Feast puts in a response for a stored timestamp: Feast
    converts the stored value to a datetime, then ``Timestamp.FromDatetime``; computed once per
    distinct stored value (a day's snapshots share one)."""
    key = (to_datetime, stored)
    found = _TS_CACHE.get(key)
    if found is None:
        moment = to_datetime(stored)
        ts = Timestamp()
        if moment is not None:
            ts.FromDatetime(moment)
        found = ts.SerializeToString()
        if len(_TS_CACHE) > 100_000:
            _TS_CACHE.clear()
        _TS_CACHE[key] = found
    return found


def _timestamps(stored: list, to_datetime) -> list[bytes]:
    return [_response_timestamp(s, to_datetime) for s in stored]


# ---------------------------------------------------------------------------------------------
# Redis


class FastRedisOnlineStoreConfig(RedisOnlineStoreConfig):
    """Feast's Redis online store configuration, selecting ``FastRedisOnlineStore``."""

    type: Literal["dagster_project.lib.online_stores.FastRedisOnlineStore"] = REDIS_TYPE  # type: ignore[assignment]


def _redis_stored_datetime(stored: bytes | None) -> datetime:
    """Feast's ``_get_features_for_entity``: an empty timestamp is the epoch."""
    ts = Timestamp()
    if stored:
        ts.ParseFromString(stored)
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1_000_000_000.0, tz=UTC)


class _RedisPlan:
    """The HMGET commands of one request: one per entity of each join key, asking for the
    fields of every view on that key (their features' hashed names, then ``_ts:<view>``)."""

    def __init__(self, config: RepoConfig, views: list[_ViewRequest]):
        self.views = views
        self.groups: dict[str, list[_ViewRequest]] = {}
        for view in views:
            self.groups.setdefault(view.join_key, []).append(view)
        project = config.project.encode()
        version = config.entity_key_serialization_version
        commands: list[bytes] = []
        self.layout: dict[int, tuple[int, int, int]] = {}  # view -> (first reply, width, column)
        reply = 0
        for join_key, group in self.groups.items():
            ids = group[0].unique
            if any(len(v.unique) != len(ids) or not (v.unique == ids).all() for v in group):
                raise _Unsupported
            fields: list[bytes] = []
            for view in group:
                self.layout[id(view)] = (reply, 0, len(fields))
                fields += _hset_fields(config, view)
            width = len(fields)
            for view in group:
                start, _, column = self.layout[id(view)]
                self.layout[id(view)] = (start, width, column)
            keys = entity_keys(join_key, ids, version, project)
            head = b"*%d\r\n$5\r\nHMGET\r\n" % (2 + width)
            tail = _resp_fields(tuple(fields))
            commands += [b"%s$%d\r\n%s\r\n%s" % (head, len(k), k, tail) for k in keys]
            reply += len(ids)
        self.replies = reply
        self.commands = b"".join(commands)

    def respond(self, replies: list, response, full_feature_names: bool) -> None:
        flat_by_group: dict[int, list] = {}
        for view in self.views:
            start, width, column = self.layout[id(view)]
            n, f = len(view.unique), len(view.features)
            if start not in flat_by_group:
                flat_by_group[start] = list(
                    itertools.chain.from_iterable(replies[start : start + n])
                )
            flat = flat_by_group[start]
            cells = np.arange(n)[:, None] * width + column + np.arange(f)[None, :]
            stored = [reply[column + f] for reply in replies[start : start + n]]
            stamps = _timestamps(stored, _redis_stored_datetime)
            # Feast's Redis store reports every requested feature of every entity PRESENT,
            # found or not (an absent field is an empty Value).
            present = np.ones((n, f), dtype=bool)
            vectors = _vectors(flat, cells, present, stamps, view)
            _append(response, view, full_feature_names, vectors, present)


_RESP_FIELDS: dict[tuple, bytes] = {}


def _resp_fields(fields: tuple[bytes, ...]) -> bytes:
    """The fields as RESP bulk strings (the tail of each HMGET), built once per field list."""
    found = _RESP_FIELDS.get(fields)
    if found is None:
        found = _RESP_FIELDS[fields] = b"".join(b"$%d\r\n%s\r\n" % (len(f), f) for f in fields)
    return found


_FIELDS: dict[tuple, list[bytes]] = {}


def _hset_fields(config: RepoConfig, view: _ViewRequest) -> list[bytes]:
    """Feast's ``_generate_hset_keys_for_features``: the murmur3 of ``view:feature`` per
    feature, then ``_ts:view``."""
    name = _versioned_fv_name(view.table, config)
    key = (name, tuple(view.features))
    fields = _FIELDS.get(key)
    if fields is None:
        fields = [_mmh3(f"{name}:{f}") for f in view.features] + [f"_ts:{name}".encode()]
        _FIELDS[key] = fields
    return fields


class FastRedisOnlineStore(RedisOnlineStore):
    """Feast's ``RedisOnlineStore`` with batched reads (see the module's docstring); writes,
    deletes and everything else are Feast's."""

    def _plan(self, config, grouped_refs, join_key_values, names, full, version_meta):
        online = config.online_store
        if online.redis_type != RedisType.redis or online.client != "redis":
            raise _Unsupported
        options = {"include_feature_view_version_metadata": version_meta}
        return _RedisPlan(config, _view_requests(grouped_refs, join_key_values, names, options))

    def _read_features_per_fv(
        self,
        config,
        grouped_refs,
        join_key_values,
        entity_name_to_join_key_map,
        online_features_response,
        full_feature_names,
        include_feature_view_version_metadata,
    ) -> None:
        try:
            plan = self._plan(
                config,
                grouped_refs,
                join_key_values,
                entity_name_to_join_key_map,
                full_feature_names,
                include_feature_view_version_metadata,
            )
        except _Unsupported:
            return super()._read_features_per_fv(
                config,
                grouped_refs,
                join_key_values,
                entity_name_to_join_key_map,
                online_features_response,
                full_feature_names,
                include_feature_view_version_metadata,
            )
        pool = self._get_client(config.online_store).connection_pool
        connection = pool.get_connection()
        try:
            connection.send_packed_command([plan.commands])
            replies = [connection.read_response() for _ in range(plan.replies)]
        except BaseException:
            connection.disconnect()  # replies may be left unread on it
            raise
        finally:
            pool.release(connection)
        plan.respond(replies, online_features_response, full_feature_names)

    async def _read_features_per_fv_async(
        self,
        config,
        grouped_refs,
        join_key_values,
        entity_name_to_join_key_map,
        online_features_response,
        full_feature_names,
        include_feature_view_version_metadata,
    ) -> None:
        try:
            plan = self._plan(
                config,
                grouped_refs,
                join_key_values,
                entity_name_to_join_key_map,
                full_feature_names,
                include_feature_view_version_metadata,
            )
        except _Unsupported:
            return await super()._read_features_per_fv_async(
                config,
                grouped_refs,
                join_key_values,
                entity_name_to_join_key_map,
                online_features_response,
                full_feature_names,
                include_feature_view_version_metadata,
            )
        client = await self._get_client_async(config.online_store)
        pool = client.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command([plan.commands])
            replies = [await connection.read_response() for _ in range(plan.replies)]
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)
        plan.respond(replies, online_features_response, full_feature_names)


# ---------------------------------------------------------------------------------------------
# SQLite


class FastSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """Feast's SQLite online store configuration, selecting ``FastSqliteOnlineStore`` (the name
    ends in ``SqliteOnlineStore``, which Feast's SQLite store checks for)."""

    type: Literal["dagster_project.lib.online_stores.FastSqliteOnlineStore"] = SQLITE_TYPE  # type: ignore[assignment]


def _sqlite_stored_datetime(stored: int | None) -> datetime | None:
    """Feast's SQLite read: the ``timestamp`` converter's ``datetime.fromtimestamp(int)``
    (naive local time, as the adapter wrote it), labelled UTC."""
    if stored is None:
        return None
    return datetime.fromtimestamp(int(stored)).replace(tzinfo=UTC)


def _sqlite_supported(config: RepoConfig) -> bool:
    online = config.online_store
    return not (
        online.vector_enabled
        or online.text_search_enabled
        or getattr(online, "enable_openai_compatible_store", False)
    )


class FastSqliteOnlineStore(SqliteOnlineStore):
    """Feast's ``SqliteOnlineStore`` with batched reads and an ``online_write_batch`` that
    stores the same rows with one ``executemany`` per batch (Feast runs one ``INSERT`` per
    feature value)."""

    def _read_features_per_fv(
        self,
        config,
        grouped_refs,
        join_key_values,
        entity_name_to_join_key_map,
        online_features_response,
        full_feature_names,
        include_feature_view_version_metadata,
    ) -> None:
        options = {"include_feature_view_version_metadata": include_feature_view_version_metadata}
        try:
            if not _sqlite_supported(config):
                raise _Unsupported
            names = entity_name_to_join_key_map
            views = _view_requests(grouped_refs, join_key_values, names, options)
        except _Unsupported:
            return super()._read_features_per_fv(
                config,
                grouped_refs,
                join_key_values,
                entity_name_to_join_key_map,
                online_features_response,
                full_feature_names,
                include_feature_view_version_metadata,
            )
        conn = self._get_conn(config)
        version = config.entity_key_serialization_version
        versioning = config.registry.enable_online_feature_view_versioning
        for view in views:
            key_list = entity_keys(view.join_key, view.unique, version)
            table = _quote_id(_table_id(config.project, view.table, versioning))
            # Feast's query (its row order decides which row's timestamp an entity gets), with
            # the raw event_ts: Feast's converter makes a datetime per row.
            rows = conn.execute(
                f"SELECT entity_key, feature_name, value, CAST(event_ts AS INTEGER) "
                f"FROM {table} WHERE entity_key IN ({','.join('?' * len(key_list))}) "
                f"ORDER BY entity_key",
                key_list,
            ).fetchall()
            n, f = len(view.unique), len(view.features)
            # Positions in the fetched values (the last, a null, for a feature not found).
            cells = np.full((n, f), len(rows), dtype=np.int64)
            stored_ts: list = [None] * n
            if rows:
                row_keys, names, blobs, stamps = zip(*rows, strict=True)
                entity = pc.index_in(
                    pa.array(row_keys, pa.binary()), pa.array(key_list, pa.binary())
                )
                entity = entity.to_numpy(zero_copy_only=False).astype(np.int64)
                feature = pc.index_in(pa.array(names, pa.string()), pa.array(view.features))
                wanted = feature.is_valid().to_numpy(zero_copy_only=False)
                feature = feature.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
                cells[entity[wanted], feature[wanted]] = np.flatnonzero(wanted)
                # An entity's timestamp is its last row's (Feast keeps overwriting it).
                reversed_entity = entity[::-1]
                _, last = np.unique(reversed_entity, return_index=True)
                for u, i in zip(
                    reversed_entity[last].tolist(), (len(rows) - 1 - last).tolist(), strict=True
                ):
                    stored_ts[u] = stamps[i]
                values = [*blobs, None]
            else:
                values = [None]
            present = cells < len(rows)
            timestamps = _timestamps(stored_ts, _sqlite_stored_datetime)
            vectors = _vectors(values, cells, present, timestamps, view)
            _append(online_features_response, view, full_feature_names, vectors, present)

    def online_write_batch(self, config, table, data, progress) -> None:
        if not _sqlite_supported(config) or config.registry.enable_online_feature_view_versioning:
            return super().online_write_batch(config, table, data, progress)
        sqlite_write_rows(self._get_conn(config), config, table, data)
        if progress:
            progress(len(data))


def feasts_config(config: dict[str, Any]) -> dict[str, Any]:
    """A store configuration (``features.config_dict``) with Feast's own online store class in
    place of ours: the same registry and online data, read and written by Feast's code (the
    reference the tests and the benchmark compare with)."""
    online = dict(config["online_store"])
    online["type"] = FEAST_TYPES.get(online["type"], online["type"])
    return {**config, "online_store": online}
