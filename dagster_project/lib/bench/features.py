"""Feature-store benchmark (`mopt bench features`) on the gold feature files of a simulated world,
per online store (SQLite embedded; Redis with a PostgreSQL registry in production):

- materialization paths, on `customer_behaviour` (38 features, the widest view) of a sample of
  customers: Feast's `materialize` (whole history, `pull_latest_features`), its
  `materialize_incremental` (one new day), and `write_to_online_store` of each customer's newest
  row at several batch sizes (on Redis with and without `skip_dedup`);
- the platform's materialization (`features.materialize_online_store`, every view, full);
- historical retrieval of 100k (customer, as-of time) rows of `purchase_probability_v1`;
- online reads of that service (p50/p99 at batch 1, 10 and 100), in process and through
  `feast serve` over HTTP (started here, stopped afterwards).

Every figure is the median of `repeats` runs, each from an empty online store. With `lock`
(a path, e.g. /tmp/mopt-heavy.lock), every timed run and read round holds an exclusive `flock` on
it, so a shared machine runs one heavy job at a time without the whole series holding it."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from datetime import timedelta
from pathlib import Path

import polars as pl
from feast import FeatureStore

from dagster_project.lib import features
from dagster_project.lib.bench.common import BIN, OUT_DIR, publish
from dagster_project.lib.settings import FEATURE_REPO_DIR, Settings, feature_models

SERVICE = "purchase_probability_v1"
PATH_VIEW = "customer_behaviour"
WRITE_BATCHES = (1_000, 10_000, 50_000)
READ_BATCHES = (1, 10, 100)
PROFILE_ORDER = ("embedded", "production")


_LOCK_PATH: Path | None = None


def heavy() -> AbstractContextManager:
    """The shared machine's lock for one timed run (``run(lock=...)``), or nothing."""
    return _flock(_LOCK_PATH) if _LOCK_PATH else nullcontext()


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    import fcntl

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class PathResult:
    path: str
    batch_size: int | None
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


@dataclass
class ReadResult:
    path: str
    batch: int
    p50_ms: float
    p99_ms: float


@dataclass
class ProfileResult:
    profile: str
    online_store: str
    customers: int
    days: int
    feature_rows: dict[str, int]
    path_customers: int
    paths: list[PathResult]
    materialize_seconds: float
    rows_written: int
    historical_entity_rows: int
    historical_seconds: float | None
    historical_features: int
    reads: list[ReadResult] = field(default_factory=list)

    @property
    def written_per_second(self) -> float:
        return self.rows_written / self.materialize_seconds


def build_feature_files(customers: int, days: int, workdir: Path, seed: int = 42) -> Path:
    """Simulate a world (unless ``workdir/raw`` holds one), land it and `dbt build` it, which
    writes the Parquet feature files Feast reads. Stage times are printed; the
    foundation benchmark (`mopt bench foundation`) is the one that measures them."""
    from dagster_project.lib.contract import tables
    from dagster_project.lib.ingest import land_table
    from dagster_project.lib.settings import DBT_PROJECT_DIR
    from dagster_project.lib.simulate import WorldConfig, simulate, write_world
    from dagster_project.lib.warehouse import connect

    raw, duckdb_path, out = workdir / "raw", workdir / "warehouse.duckdb", workdir / "features"
    started = time.perf_counter()
    if not (raw / "orders.parquet").exists():
        write_world(simulate(WorldConfig(customers=customers, days=days, seed=seed)), raw)
        print(f"simulated in {time.perf_counter() - started:.0f} s", flush=True)
    duckdb_path.unlink(missing_ok=True)
    with connect(duckdb_path) as con:
        for name in tables():
            land_table(con, raw, name)
    print(f"landed in {time.perf_counter() - started:.0f} s", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(BIN / "dbt"), "build", "--profiles-dir", "."],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "MOPT_DUCKDB_PATH": str(duckdb_path), "MOPT_FEATURES_DIR": str(out)},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"dbt built (feature files in {out}) in {time.perf_counter() - started:.0f} s")
    return out


def _settings(workdir: Path, features_dir: Path) -> Settings:
    return Settings(
        data_dir=workdir,
        raw_dir=workdir / "raw",
        duckdb_path=workdir / "warehouse.duckdb",
        features_dir=features_dir.resolve(),
        business_timezone="Asia/Seoul",
    )


@dataclass
class Stores:
    """Stores of one profile over one folder of feature files, each in a project of its own:
    every timed run starts from an empty online store (Redis skips a row whose timestamp is not
    newer than the stored one) and is torn down afterwards."""

    settings: Settings
    profile: str
    prefix: str = field(default_factory=lambda: f"mopt_bench_{uuid.uuid4().hex[:8]}")
    made: int = 0

    def new(self) -> FeatureStore:
        self.made += 1
        store = features.feature_store(
            self.settings, profile=self.profile, project=f"{self.prefix}_{self.made}"
        )
        features.apply_repo(store, self.settings.features_dir)
        return store

    def median(
        self, run: Callable[[FeatureStore], None], repeats: int, keep_last: bool = False
    ) -> tuple[float, FeatureStore | None]:
        """Median seconds of ``run(store)`` over ``repeats`` fresh stores, and the last store if
        ``keep_last`` (the caller tears it down)."""
        times = []
        for k in range(repeats):
            store = self.new()
            kept = keep_last and k == repeats - 1
            try:
                with heavy():
                    started = time.perf_counter()
                    run(store)
                    times.append(time.perf_counter() - started)
            finally:
                if not kept:
                    store.teardown()
        return statistics.median(times), store if keep_last else None


def sample_customers(features_dir: Path, workdir: Path, customers: int, seed: int) -> Path:
    """``customer__daily.parquet`` of ``customers`` random customers (every day of each), in a
    folder of its own: the path comparison's input."""
    path = features_dir / "customer__daily.parquet"
    ids = pl.scan_parquet(path).select("customer_id").unique().collect()["customer_id"].sort()
    keep = ids.sample(min(customers, len(ids)), seed=seed)
    out = workdir / "path_sample"
    out.mkdir(parents=True, exist_ok=True)
    pl.scan_parquet(path).filter(pl.col("customer_id").is_in(keep.implode())).sink_parquet(
        out / "customer__daily.parquet"
    )
    return out


def bench_paths(stores: Stores, repeats: int) -> list[PathResult]:
    """Feast's materialization paths on one view of the sample."""
    path = stores.settings.features_dir / "customer__daily.parquet"
    first, last = features._timestamp_range(str(path))
    probe = stores.new()
    view = probe.get_feature_view(PATH_VIEW)
    entities = features.latest_rows(view, None, last).height
    last_day = features.latest_rows(view, last, last).height
    probe.teardown()
    results = []

    def materialize(store: FeatureStore) -> None:
        store.materialize(first, last, feature_views=[PATH_VIEW])

    results.append(
        PathResult("materialize", 10_000, entities, stores.median(materialize, repeats)[0])
    )

    times = []
    for _ in range(repeats):
        store = stores.new()
        with heavy():
            store.materialize(first, last - timedelta(days=1), feature_views=[PATH_VIEW])
            started = time.perf_counter()
            store.materialize_incremental(last, feature_views=[PATH_VIEW])
            times.append(time.perf_counter() - started)
        store.teardown()
    results.append(
        PathResult("materialize_incremental (one day)", 10_000, last_day, statistics.median(times))
    )

    redis = stores.profile == "production"
    for dedup in [False, True] if redis else [False]:
        for batch in (10_000,) if dedup else WRITE_BATCHES:

            def write(store: FeatureStore, batch: int = batch, dedup: bool = dedup) -> None:
                if redis:
                    store.config.online_store.skip_dedup = not dedup
                view = store.get_feature_view(PATH_VIEW)
                rows = features.latest_rows(view, None, last)
                features.write_online(store, view, rows, batch, bulk=False)

            name = "write_to_online_store" + (" (timestamp check)" if dedup else "")
            results.append(PathResult(name, batch, entities, stores.median(write, repeats)[0]))

    def bulk(store: FeatureStore) -> None:
        view = store.get_feature_view(PATH_VIEW)
        rows = features.latest_rows(view, None, last)
        features.write_online(store, view, rows, features.ONLINE_WRITE_BATCH)

    seconds = stores.median(bulk, repeats)[0]
    results.append(PathResult("online_write (bulk, Feast's bytes)", 10_000, entities, seconds))
    for r in results:
        print(f"  {r.path} batch {r.batch_size}: {r.rows_per_second:,.0f} rows/s", flush=True)
    return results


def _percentile(ms: list[float], q: float) -> float:
    ms = sorted(ms)
    return ms[min(len(ms) - 1, int(round(q * (len(ms) - 1))))]


def _latency(call: Callable[[list[str]], object], ids: pl.Series, batch: int, reads: int):
    call(ids[:batch].to_list())  # warm-up
    samples = []
    for k in range(reads):
        chunk = ids[k * batch : (k + 1) * batch].to_list()
        started = time.perf_counter()
        call(chunk)
        samples.append((time.perf_counter() - started) * 1000)
    return _percentile(samples, 0.5), _percentile(samples, 0.99)


def bench_reads(
    calls: dict[str, Callable[[list[str]], object]],
    customer_ids: pl.Series,
    reads: int,
    repeats: int,
    seed: int,
) -> list[ReadResult]:
    results = []
    for path, call in calls.items():
        for batch in READ_BATCHES:
            rounds = []
            for r in range(repeats):
                sample = customer_ids.sample(batch * reads, with_replacement=True, seed=seed + r)
                with heavy():
                    rounds.append(_latency(call, sample, batch, reads))
            p50 = statistics.median(r[0] for r in rounds)
            p99 = statistics.median(r[1] for r in rounds)
            results.append(ReadResult(path, batch, p50, p99))
            print(f"  {path} batch {batch}: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
    return results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# How `feast serve` runs, here and in docker-compose.yml's feature_server: in Python's optimized
# mode, where typeguard's @typechecked is a no-op. Feast checks the types of every Field it
# builds, and its server rebuilds the feature service from the cached registry on every request:
# 2.3 ms of a read of 45 features (p50 in process), 0.23 ms with the checks off.
FEATURE_SERVER_ENV = {"PYTHONOPTIMIZE": "1"}


@contextmanager
def feast_server(yaml_path: Path) -> Iterator[Callable[[list[str]], object]]:
    """`feast serve` on a free port for the benchmark's store; yields a read function over one
    kept-alive HTTP connection, and stops the server afterwards."""
    port = _free_port()
    log = (yaml_path.parent / "feast_serve.log").open("w")
    runtime_dir = yaml_path.parent / "run"
    runtime_dir.mkdir(exist_ok=True)
    server = subprocess.Popen(
        [
            str(BIN / "feast"),
            "-c",
            str(FEATURE_REPO_DIR),
            "-f",
            str(yaml_path),
            "serve",
            "-p",
            str(port),
            "--no-access-log",
            # The default restarts the worker every ~1,000 requests: a cold start inside the run.
            "--max-requests",
            "1000000",
            # The in-process reads run first (~1 min): with the default 30 s the server closed
            # the idle connection, the first HTTP read failed and the run stopped the server.
            "--keep-alive-timeout",
            "3600",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        # A control socket of its own: gunicorn's default (~/.gunicorn/gunicorn.ctl) is shared
        # by every gunicorn on the machine. Optimized mode, as in production (FEATURE_SERVER_ENV).
        env={**os.environ, **FEATURE_SERVER_ENV, "XDG_RUNTIME_DIR": str(runtime_dir)},
    )
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        deadline = time.monotonic() + 120
        while True:
            try:
                conn.request("GET", "/health")
                if conn.getresponse().read() is not None:
                    break
            except OSError:
                conn.close()
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"feast serve did not start; see {log.name}") from None
                time.sleep(0.5)

        def read(ids: list[str]) -> object:
            body = json.dumps({"feature_service": SERVICE, "entities": {"customer_id": ids}})
            conn.request("POST", "/get-online-features", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError(f"feast serve answered {response.status}: {payload[:300]!r}")
            return json.loads(payload)

        yield read
        conn.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _feasts_store(settings: Settings, profile: str, project: str) -> FeatureStore:
    """The benchmark's store (same registry and online data) with Feast's own online store
    class instead of the platform's (``lib/online_stores.py``): the reference reads."""
    from feast import RepoConfig

    from dagster_project.lib.online_stores import feasts_config

    config = feasts_config(features.config_dict(settings, profile, project))
    return FeatureStore(
        repo_path=str(FEATURE_REPO_DIR), config=RepoConfig(repo_path=FEATURE_REPO_DIR, **config)
    )


def bench_feature_store(
    features_dir: Path,
    workdir: Path,
    profile: str = "embedded",
    entity_rows: int = 100_000,
    reads: int = 500,
    repeats: int = 3,
    path_customers: int = 10_000,
    historical: bool = True,
    seed: int = 42,
) -> ProfileResult:
    """One profile, on fresh state. For ``production``, MOPT_REDIS_URL and FEAST_REGISTRY_URL
    must be set. Every run uses a project of its own and tears it down afterwards."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    settings = _settings(workdir, features_dir)
    sample_dir = sample_customers(features_dir, workdir, path_customers, seed)
    snapshots = pl.scan_parquet(features_dir / "customer__daily.parquet")
    snapshots = snapshots.select("customer_id", "event_timestamp").collect()
    stamps = snapshots["event_timestamp"].unique().sort()
    customer_ids = snapshots["customer_id"].unique().sort()

    print(f"{profile}: materialization paths on {PATH_VIEW}", flush=True)
    paths = bench_paths(Stores(_settings(workdir / "paths", sample_dir), profile), repeats)

    stores = Stores(settings, profile)
    runs: list[features.ViewMaterialization] = []

    def full(store: FeatureStore) -> None:
        nonlocal runs
        runs = features.materialize_online_store(store)

    materialize_s, store = stores.median(full, repeats, keep_last=True)
    assert store is not None
    rows = sum(r.rows for r in runs)
    print(f"{profile}: all views {rows / materialize_s:,.0f} rows/s", flush=True)

    # The last materialized store is the one read, kept until the reads are done.
    try:
        historical_s, width = None, 0
        if historical:
            entity_df = pl.DataFrame(
                {
                    "customer_id": customer_ids.sample(
                        entity_rows, with_replacement=True, seed=seed
                    ),
                    "event_timestamp": stamps.sample(
                        entity_rows, with_replacement=True, seed=seed + 1
                    )
                    + timedelta(hours=1),
                }
            )
            times = []
            for _ in range(repeats):
                with heavy():
                    started = time.perf_counter()
                    training = features.historical_features(entity_df, SERVICE, store=store)
                    times.append(time.perf_counter() - started)
            assert training.height == entity_rows
            historical_s, width = statistics.median(times), training.width - 2
            print(f"{profile}: historical {entity_rows:,} rows {historical_s:.1f} s", flush=True)

        yaml_path = workdir / "feature_store.yaml"
        yaml_path.write_text(features.feature_store_yaml(settings, profile, store.project))
        feasts = _feasts_store(settings, profile, store.project)
        feasts_service = feasts.get_feature_service(SERVICE)

        def feasts_read(ids: list[str]) -> object:
            return feasts.get_online_features(
                features=feasts_service, entity_rows={"customer_id": ids}
            ).proto

        with feast_server(yaml_path) as http_read:
            latency = bench_reads(
                {
                    "in process": lambda ids: features.online_features(ids, SERVICE, store=store),
                    "feast serve": http_read,
                    f"in process, Feast's {type(feasts._get_provider().online_store).__name__}"
                    " (get_online_features)": feasts_read,
                },
                customer_ids,
                reads,
                repeats,
                seed,
            )
    finally:
        store.teardown()

    return ProfileResult(
        profile=profile,
        online_store=_store_label(store),
        customers=len(customer_ids),
        days=len(stamps),
        feature_rows={
            name: pl.scan_parquet(features_dir / f"{name}.parquet")
            .select(pl.len())
            .collect()
            .item()
            for name in (m.removeprefix("feat_") for m in feature_models())
        },
        path_customers=path_customers,
        paths=paths,
        materialize_seconds=materialize_s,
        rows_written=rows,
        historical_entity_rows=entity_rows,
        historical_seconds=historical_s,
        historical_features=width,
        reads=latency,
    )


def _store_label(store: FeatureStore) -> str:
    """``sqlite`` or ``redis`` (the platform's classes subclass Feast's)."""
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig

    return "sqlite" if isinstance(store.config.online_store, SqliteOnlineStoreConfig) else "redis"


def report_markdown(results: list[ProfileResult]) -> str:
    lines = [
        "Materialization, by path (`customer_behaviour`, 38 features, newest row of each of "
        f"{results[0].path_customers:,} customers; one day: their rows of the last day):",
        "",
        "| online store | path | batch | rows | median s | online rows/s |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        for p in r.paths:
            lines.append(
                f"| {r.online_store} | {p.path} | {p.batch_size or ''} | {p.rows:,} "
                f"| {p.seconds:.2f} | {p.rows_per_second:,.0f} |"
            )
    lines += [
        "",
        "The platform's materialization (`materialize_online_store`: every view, whole history),"
        " historical retrieval and online reads of `purchase_probability_v1` (45 features):",
        "",
        "| online store | customers | days | online rows | materialize s | online rows/s "
        "| historical 100k rows s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        hist = f"{r.historical_seconds:.1f}" if r.historical_seconds is not None else "-"
        lines.append(
            f"| {r.online_store} | {r.customers:,} | {r.days} | {r.rows_written:,} "
            f"| {r.materialize_seconds:.1f} | {r.written_per_second:,.0f} | {hist} |"
        )
    lines += [
        "",
        "| online store | read path | p50/p99 ms batch 1 | batch 10 | batch 100 |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in results:
        for path in dict.fromkeys(x.path for x in r.reads):
            cells = [
                f"{x.p50_ms:.1f} / {x.p99_ms:.1f}"
                for b in READ_BATCHES
                for x in r.reads
                if x.path == path and x.batch == b
            ]
            lines.append(f"| {r.online_store} | {path} | {' | '.join(cells)} |")
    return "\n".join(lines)


def run(
    customers: int,
    days: int,
    seed: int,
    workdir: Path,
    features_dir: Path | None,
    redis_url: str | None,
    registry_url: str | None,
    entity_rows: int,
    reads: int,
    repeats: int = 3,
    profiles: tuple[str, ...] = ("embedded", "production"),
    lock: Path | None = None,
) -> list[ProfileResult]:
    """Build the feature files (unless `features_dir` has them), bench the embedded profile and,
    with both URLs, the production one, then write the report."""
    global _LOCK_PATH
    _LOCK_PATH = lock
    features_dir = features_dir or build_feature_files(customers, days, workdir / "world", seed)
    if redis_url and registry_url:
        os.environ["MOPT_REDIS_URL"] = redis_url
        os.environ["FEAST_REGISTRY_URL"] = registry_url
    else:
        profiles = tuple(p for p in profiles if p != "production")
    results = []
    for profile in profiles:
        results.append(
            bench_feature_store(
                features_dir,
                workdir / profile,
                profile=profile,
                entity_rows=entity_rows,
                reads=reads,
                repeats=repeats,
                historical=profile == profiles[0],
                seed=seed,
            )
        )
    write_report(results)
    return results


def _payload(r: ProfileResult) -> dict:
    return asdict(r) | {
        "rows_written_per_second": r.written_per_second,
        "paths": [asdict(p) | {"rows_per_second": p.rows_per_second} for p in r.paths],
    }


def _from_payload(payload: dict) -> ProfileResult:
    names = {f.name for f in fields(ProfileResult)}
    result = ProfileResult(**{k: v for k, v in payload.items() if k in names})
    result.paths = [
        PathResult(**{k: v for k, v in p.items() if k != "rows_per_second"})
        for p in payload["paths"]
    ]
    result.reads = [ReadResult(**r) for r in payload["reads"]]
    return result


def write_report(results: list[ProfileResult]) -> None:
    """Publish these profiles' results with the last published ones of the other profiles, so
    each profile can run as a command of its own."""
    previous = OUT_DIR / "features.json"
    ran = {r.profile for r in results}
    kept = []
    if previous.exists():
        kept = [
            _from_payload(r)
            for r in json.loads(previous.read_text()).get("results", [])
            if r.get("profile") not in ran and "paths" in r
        ]
    merged = sorted([*kept, *results], key=lambda r: PROFILE_ORDER.index(r.profile))
    publish(
        "features",
        {"results": [_payload(r) for r in merged]},
        report_markdown(merged),
    )
