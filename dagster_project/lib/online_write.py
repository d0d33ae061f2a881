"""Bulk writes into Feast's SQLite and Redis online stores: the same rows and bytes Feast's
``write_to_online_store`` stores, encoded column at a time with NumPy and Arrow instead of one
protobuf ``Value`` per value in Python.

Feast 0.67 converts every value to a ``Value`` message and serializes it one by one (~2.5 µs a
value), then the SQLite store runs one ``INSERT`` per entity and feature and the Redis store
packs one ``HSET`` per entity argument by argument: ~3k and ~5k online rows a second for a
38-feature view. Here each feature column becomes the serialized ``Value`` bytes in one pass
(a ``Value`` with one scalar set is a tag byte and the scalar's wire encoding; a null is
empty); SQLite gets Feast's upsert with a few entities per statement (each entity's key and
timestamps bound once, its features' names as literals: a third of the bound values of one
parameter set per stored row), inside Feast's connection; Redis gets Feast's ``HSET`` commands
as one pre-encoded RESP buffer per batch on Feast's client's connection. Keys, field names,
timestamps and table names come from Feast's own helpers. Anything else (list features,
non-string join keys, Redis Cluster, vector or value_num columns) returns ``False`` and the
caller uses Feast's path.
``tests/features/test_online_write.py`` checks the stored bytes against Feast's on every view.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast import FeatureStore, FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.types import Bool, Float32, Float64, Int32, String

# Field numbers of feast.types.Value's scalar members, as protobuf tag bytes (number << 3 | wire
# type): varint 0, 64-bit 1, length-delimited 2, 32-bit 5.
_VARINT_TAGS = {Int32: 0x18, Bool: 0x38}
_FIXED_TAGS = {Float64: (0x29, np.float64), Float32: (0x35, np.float32)}
_STRING_TAG = 0x12
SUPPORTED_TYPES = (*_VARINT_TAGS, *_FIXED_TAGS, String)
_EMPTY = pa.scalar(b"", pa.large_binary())


def _binary(lengths: np.ndarray, data: np.ndarray) -> pa.Array:
    """A binary array from each item's length and the items' bytes back to back."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _varints(tag: int, values: np.ndarray, present: np.ndarray) -> pa.Array:
    """``tag`` + base-128 varint of each value (negative ones as 64-bit two's complement, as
    protobuf encodes int32 and int64); empty where not ``present``."""
    u = values.astype(np.int64).view(np.uint64)
    width = np.ones(len(u), dtype=np.int64)
    for k in range(1, 10):
        width += u >= np.uint64(1 << (7 * k))
    widest = int(width.max(initial=1))
    cells = np.empty((len(u), widest + 1), dtype=np.uint8)
    cells[:, 0] = tag
    for k in range(widest):
        group = ((u >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        cells[:, k + 1] = group | np.where(k < width - 1, 0x80, 0).astype(np.uint8)
    keep = (np.arange(widest + 1)[None, :] <= width[:, None]) & present[:, None]
    return _binary(np.where(present, width + 1, 0), cells[keep])


def _fixed(tag: int, dtype: type, values: np.ndarray, present: np.ndarray) -> pa.Array:
    raw = values.astype(dtype).view(np.uint8).reshape(len(values), -1)
    cells = np.concatenate([np.full((len(values), 1), tag, np.uint8), raw], axis=1)
    return _binary(np.where(present, cells.shape[1], 0), cells[present].ravel())


def _strings(column: pa.Array) -> pa.Array:
    present = column.is_valid().to_numpy(zero_copy_only=False)
    data = pc.cast(column, pa.large_binary())
    lengths = pc.binary_length(data).fill_null(0).to_numpy(zero_copy_only=False)
    prefix = _varints(_STRING_TAG, lengths, present)
    return pc.binary_join_element_wise(prefix, data, _EMPTY).fill_null(b"")


def _present(column: pa.Array) -> np.ndarray:
    """Where Feast writes a value: not null and, for floats, not NaN (Feast stores NaN as an
    empty ``Value``, that is, null)."""
    present = column.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_floating(column.type):
        present &= ~np.isnan(column.fill_null(0).to_numpy(zero_copy_only=False))
    return present


def encode_values(column: pa.Array, dtype: object) -> pa.Array:
    """Each value's serialized ``feast.types.Value`` (empty for null), as Feast's
    ``python_values_to_proto_values(...).SerializeToString()`` gives it."""
    if dtype == String:
        return _strings(column)
    present = _present(column)
    filled = column.fill_null(False if dtype == Bool else 0)
    values = filled.to_numpy(zero_copy_only=False)
    if dtype in _VARINT_TAGS:
        return _varints(_VARINT_TAGS[dtype], values.astype(np.int64), present)
    tag, width_type = _FIXED_TAGS[dtype]
    return _fixed(tag, width_type, np.where(present, values, 0), present)


def value_texts(column: pa.Array, dtype: object) -> list[str | None]:
    """The SQLite store's ``value_text``: ``str`` of the value Feast stored (None for null).
    Arrow's integer-to-string cast is Python's ``str``; its float formatting is not."""
    if dtype == String:
        return column.to_pylist()
    if dtype == Int32:
        return pc.cast(column, pa.string()).to_pylist()
    if dtype == Bool:
        return pc.if_else(column, "True", "False").to_pylist()
    if dtype == Float32:
        values = np.asarray(column.fill_null(0), dtype=np.float32).astype(np.float64).tolist()
    else:
        values = column.to_pylist()
    texts: list[str | None] = list(map(str, values))
    for i in np.flatnonzero(~_present(column)).tolist():
        texts[i] = None
    return texts


def entity_keys(view: FeatureView, column: pa.Array, version: int) -> pa.Array:
    """Feast's serialized entity key of each (string) join key value: a fixed prefix, the
    value's length as uint32 and its bytes. Checked against Feast's own serializer."""
    join_key = view.entity_columns[0].name
    data = pc.cast(column, pa.large_binary())
    lengths = pc.binary_length(data).to_numpy(zero_copy_only=False).astype("<u4")
    sample = column[0].as_py()
    feast_key = _feast_entity_key(join_key, sample, version)
    prefix = feast_key[: -(4 + len(sample.encode()))]
    length_bytes = _binary(np.full(len(lengths), 4), lengths.view(np.uint8))
    keys = pc.binary_join_element_wise(_scalar(prefix), length_bytes, data, _EMPTY)
    if keys[0].as_py() != feast_key:
        raise RuntimeError(f"{view.name}: entity key encoding differs from Feast's")
    return keys


def _feast_entity_key(join_key: str, value: str, version: int) -> bytes:
    proto = EntityKeyProto(join_keys=[join_key], entity_values=[ValueProto(string_val=value)])
    return serialize_entity_key(proto, entity_key_serialization_version=version)


def supports(store: FeatureStore, view: FeatureView) -> bool:
    """Whether this module can write the view into the store's online store."""
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig

    online = store.config.online_store
    if isinstance(online, SqliteOnlineStoreConfig):
        store_ok = not online.vector_enabled and not online.enable_openai_compatible_store
    elif isinstance(online, RedisOnlineStoreConfig):
        store_ok = online.redis_type.value == "redis"
    else:
        store_ok = False
    columns = view.entity_columns
    return (
        store_ok
        and not store.config.registry.enable_online_feature_view_versioning
        and len(columns) == 1
        and columns[0].dtype == String
        and all(f.dtype in SUPPORTED_TYPES for f in view.features)
    )


def _by_unique(column: pa.Array, convert) -> np.ndarray:
    """``convert`` of each value (an object array), computed once per distinct value (the
    timestamps of a batch are a few days)."""
    distinct = pc.unique(column)
    converted = _objects([convert(v) for v in distinct.to_pylist()])
    return converted[pc.index_in(column, distinct).to_numpy(zero_copy_only=False)]


def write(store: FeatureStore, view: FeatureView, rows: pa.Table, batch_size: int = 10_000) -> bool:
    """Write rows (one per entity: key, features, event and created timestamps) as Feast's
    ``write_to_online_store`` would, ``batch_size`` rows per transaction (SQLite) or round trip
    (Redis). False, writing nothing, if the view or store is not supported (``supports``)."""
    if not supports(store, view):
        return False
    if _is_sqlite(store):
        _write_sqlite(store, view, rows, batch_size)
    else:
        for start in range(0, len(rows), batch_size):
            _write_redis(store, view, rows.slice(start, batch_size))
    return True


def _is_sqlite(store: FeatureStore) -> bool:
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig

    return isinstance(store.config.online_store, SqliteOnlineStoreConfig)


def _view_entity_keys(store: FeatureStore, view: FeatureView, rows: pa.Table) -> pa.Array:
    version = store.config.entity_key_serialization_version
    return entity_keys(view, _column(rows, view.entity_columns[0].name), version)


_SQLITE_COLUMNS = ("entity_key", "feature_name", "value", "value_text", "event_ts", "created_ts")


def _sqlite_upsert(table: str, rows: int) -> str:
    """Feast's SQLite upsert (``SqliteOnlineStore.online_write_batch``) for ``rows`` rows."""
    values = ", ".join(["(" + ", ".join("?" * len(_SQLITE_COLUMNS)) + ")"] * rows)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _SQLITE_COLUMNS[2:])
    return (
        f"INSERT INTO {table} ({', '.join(_SQLITE_COLUMNS)}) VALUES {values} "
        f"ON CONFLICT(entity_key, feature_name) DO UPDATE SET {updates};"
    )


# Entities per SQLite INSERT statement, each with its features as literal names and its key and
# timestamps bound once: a third of the bound values of one parameter set per stored row.
SQLITE_ENTITIES_PER_STATEMENT = 4


def _sqlite_entity_upsert(table: str, names: list[str], entities: int) -> str:
    """Feast's upsert for ``entities`` entities of ``names`` features each: per entity, the key
    as ?1, the timestamps as ?2 and ?3, then each feature's value and value text."""
    width = 3 + 2 * len(names)
    rows = []
    for e in range(entities):
        base = e * width
        for j, name in enumerate(names):
            literal = "'" + name.replace("'", "''") + "'"
            rows.append(
                f"(?{base + 1}, {literal}, ?{base + 4 + 2 * j}, ?{base + 5 + 2 * j}, "
                f"?{base + 2}, ?{base + 3})"
            )
    updates = ", ".join(f"{c} = excluded.{c}" for c in _SQLITE_COLUMNS[2:])
    return (
        f"INSERT INTO {table} ({', '.join(_SQLITE_COLUMNS)}) VALUES {', '.join(rows)} "
        f"ON CONFLICT(entity_key, feature_name) DO UPDATE SET {updates};"
    )


def _write_sqlite(store: FeatureStore, view: FeatureView, rows: pa.Table, batch_size: int) -> None:
    """One row per entity and feature, in primary-key order (entity key, then feature name):
    appending to SQLite's B-trees instead of inserting all over them is 3x faster. The next
    batch's parameters are built while SQLite inserts this one (it releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    from feast.infra.online_stores.sqlite import _quote_id, _table_id

    config = store.config
    online = store._get_provider().online_store  # type: ignore[attr-defined]
    conn = online._get_conn(config)
    table = _quote_id(_table_id(config.project, view, False))
    keys = _view_entity_keys(store, view, rows)
    order = pc.sort_indices(keys)
    rows, keys = rows.take(order), keys.take(order)
    names = sorted(f.name for f in view.features)
    per = SQLITE_ENTITIES_PER_STATEMENT

    def parameters(start: int) -> list[list]:
        return _sqlite_entity_parameters(
            view, rows.slice(start, batch_size), keys[start : start + batch_size]
        )

    with ThreadPoolExecutor(max_workers=1) as builder:
        pending = builder.submit(parameters, 0)
        for start in range(0, len(rows), batch_size):
            entities = pending.result()
            if start + batch_size < len(rows):
                pending = builder.submit(parameters, start + batch_size)
            whole = len(entities) - len(entities) % per
            with conn:
                if whole:
                    grouped = np.asarray(entities[:whole], dtype=object).reshape(whole // per, -1)
                    conn.executemany(_sqlite_entity_upsert(table, names, per), grouped.tolist())
                for entity in entities[whole:]:
                    conn.execute(_sqlite_entity_upsert(table, names, 1), entity)


def _sqlite_entity_parameters(view: FeatureView, batch: pa.Table, keys: pa.Array) -> list[list]:
    """Per entity: its key, event and created timestamps, then each feature's (in name order)
    value bytes and value text."""
    from feast.utils import to_naive_utc

    # Feast passes datetimes, which its registered adapter stores as int(naive.timestamp()).
    def epoch(t: datetime | None) -> int | None:
        return None if t is None else int(to_naive_utc(t).timestamp())

    source = view.batch_source
    created = source.created_timestamp_column
    feature_list = sorted(view.features, key=lambda f: f.name)
    cells = np.empty((len(batch), 3 + 2 * len(feature_list)), dtype=object)
    cells[:, 0] = _objects(keys.to_pylist())
    cells[:, 1] = _by_unique(_column(batch, source.timestamp_field), epoch)
    cells[:, 2] = _by_unique(_column(batch, created), epoch) if created else None
    for j, feature in enumerate(feature_list):
        column = _column(batch, feature.name)
        cells[:, 3 + 2 * j] = _objects(encode_values(column, feature.dtype).to_pylist())
        cells[:, 4 + 2 * j] = _objects(value_texts(column, feature.dtype))
    return cells.tolist()


def _objects(values: list) -> np.ndarray:
    """A 1-d object array of exactly these Python objects (NumPy would turn a list of bytes or
    str of equal length into a fixed-width array)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _write_redis(store: FeatureStore, view: FeatureView, batch: pa.Table) -> None:
    from feast.infra.online_stores.helpers import _mmh3
    from feast.utils import make_tzaware
    from google.protobuf.timestamp_pb2 import Timestamp

    config = store.config
    online = store._get_provider().online_store  # type: ignore[attr-defined]
    client = online._get_client(config.online_store)

    def timestamp_bytes(t: datetime) -> bytes:
        ts = Timestamp()
        ts.FromDatetime(make_tzaware(t))
        return ts.SerializeToString()

    keys = _view_entity_keys(store, view, batch)
    keys = pc.binary_join_element_wise(keys, _scalar(config.project), _EMPTY)
    ts_values = pa.array(
        _by_unique(_column(batch, view.batch_source.timestamp_field), timestamp_bytes),
        pa.large_binary(),
    )
    fields = [(f"_ts:{view.name}".encode(), ts_values)] + [
        (_mmh3(f"{view.name}:{f.name}"), encode_values(_column(batch, f.name), f.dtype))
        for f in view.features
    ]
    parts: list[pa.Array | pa.Scalar] = [
        _scalar(f"*{2 + 2 * len(fields)}\r\n$4\r\nHSET\r\n"),
        *_bulk(keys),
    ]
    for name, values in fields:
        parts += [_scalar(f"${len(name)}\r\n".encode() + name + b"\r\n"), *_bulk(values)]
    ttl = config.online_store.key_ttl_seconds
    if ttl:
        expire = f"\r\n${len(str(ttl))}\r\n{ttl}\r\n"
        parts += [_scalar("*3\r\n$6\r\nEXPIRE\r\n"), *_bulk(keys)[:-1], _scalar(expire)]
    commands = pc.binary_join_element_wise(*parts, _EMPTY)
    replies = len(batch) * (2 if ttl else 1)
    connection = client.connection_pool.get_connection()
    try:
        connection.send_packed_command([_buffer(commands)])
        for _ in range(replies):
            connection.read_response()  # raises on an error reply
    finally:
        client.connection_pool.release(connection)


def _scalar(text: str | bytes) -> pa.Scalar:
    return pa.scalar(text.encode() if isinstance(text, str) else text, pa.large_binary())


def _bulk(values: pa.Array) -> list[pa.Array | pa.Scalar]:
    """RESP bulk strings: ``$<length>\\r\\n<bytes>\\r\\n``."""
    lengths = pc.cast(pc.cast(pc.binary_length(values), pa.string()), pa.large_binary())
    return [_scalar("$"), lengths, _scalar("\r\n"), values, _scalar("\r\n")]


def _buffer(commands: pa.Array) -> memoryview:
    """The commands back to back: the data buffer of the (offset-contiguous) binary array."""
    offsets = np.frombuffer(commands.buffers()[1], dtype=np.int64)[
        commands.offset : commands.offset + len(commands) + 1
    ]
    return memoryview(commands.buffers()[2])[offsets[0] : offsets[-1]]


def _column(batch: pa.Table | pa.RecordBatch, name: str) -> pa.Array:
    column = batch.column(name)
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def sqlite_write_rows(conn, config, view: FeatureView, data: list) -> None:
    """``SqliteOnlineStore.online_write_batch`` without value_num or vector columns: the same
    rows (Feast's entity key, each ``Value``'s bytes and text, its datetimes through the
    registered adapter), upserted with one ``executemany`` in one transaction instead of one
    ``execute`` per value. ``data`` is Feast's: (entity key, {feature: Value}, event time,
    created time) per entity, as Feast's materialization and ``write_to_online_store`` pass it."""
    from feast.infra.online_stores.helpers import extract_text_and_num
    from feast.infra.online_stores.sqlite import _quote_id, _table_id
    from feast.utils import to_naive_utc

    version = config.entity_key_serialization_version
    table = _quote_id(_table_id(config.project, view, False))
    rows: list[tuple] = []
    for entity_key, values, timestamp, created_ts in data:
        key = serialize_entity_key(entity_key, entity_key_serialization_version=version)
        event = to_naive_utc(timestamp)
        created = None if created_ts is None else to_naive_utc(created_ts)
        rows += [
            (key, name, v.SerializeToString(), extract_text_and_num(v, False)[0], event, created)
            for name, v in values.items()
        ]
    with conn:
        conn.executemany(_sqlite_upsert(table, 1), rows)
