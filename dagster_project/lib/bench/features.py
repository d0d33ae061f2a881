"""Feature-store benchmark (`mopt bench features`): materialization throughput, historical
retrieval of 100k entity rows, and online read latency (p50/p99 at batch 1, 10 and 100) for the
SQLite and Redis online stores, on the gold feature files of a simulated world. Without a Redis
and a registry URL only the embedded profile (SQLite) runs."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import polars as pl

from dagster_project.lib import features
from dagster_project.lib.bench.common import BIN, publish
from dagster_project.lib.settings import Settings, feature_models

SERVICE = "purchase_probability_v1"


@dataclass
class ProfileResult:
    profile: str
    online_store: str
    customers: int
    days: int
    feature_rows: dict[str, int]
    materialize_seconds: float
    rows_scanned: int
    rows_written: int
    historical_entity_rows: int
    historical_seconds: float
    historical_features: int
    online_latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def scanned_per_second(self) -> float:
        return self.rows_scanned / self.materialize_seconds

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


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    return {
        "p50": statistics.median(ms),
        "p99": ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))],
        "mean": statistics.fmean(ms),
        "reads": len(ms),
    }


def bench_feature_store(
    features_dir: Path,
    workdir: Path,
    profile: str = "embedded",
    entity_rows: int = 100_000,
    batch_sizes: tuple[int, ...] = (1, 10, 100),
    reads: int = 500,
    seed: int = 42,
) -> ProfileResult:
    """One profile end to end on fresh state: apply, full materialization (timed), historical
        retrieval of ``entity_rows`` random (customer, as-of time) rows of the purchase-probability
        service (timed), then ``reads`` online reads per batch size of random customers through
    ``features.online_features`` (Feast's ``get_online_features`` plus typing into Polars). For
        ``production``, MOPT_REDIS_URL and FEAST_REGISTRY_URL must be set; the run uses a project of
        its own and tears it down afterwards."""
    shutil.rmtree(workdir, ignore_errors=True)  # fresh registry and online store: a first run
    workdir.mkdir(parents=True)
    settings = Settings(
        data_dir=workdir,
        raw_dir=workdir / "raw",
        duckdb_path=workdir / "warehouse.duckdb",
        features_dir=features_dir.resolve(),
        business_timezone="Asia/Seoul",
    )
    project = f"mopt_bench_{uuid.uuid4().hex[:8]}"
    store = features.feature_store(settings, profile=profile, project=project)
    customers_path = features_dir / "customer__daily.parquet"
    snapshots = pl.scan_parquet(customers_path).select("customer_id", "event_timestamp").collect()
    stamps = snapshots["event_timestamp"].unique().sort()
    customer_ids = snapshots["customer_id"].unique().sort()
    try:
        features.apply_repo(store, settings.features_dir)
        started = time.perf_counter()
        runs = features.materialize_online_store(store)
        materialize_s = time.perf_counter() - started
        scanned = sum(
            pl.scan_parquet(store.get_feature_view(r.feature_view).batch_source.path)
            .select(pl.len())
            .collect()
            .item()
            for r in runs
        )

        entity_df = pl.DataFrame(
            {
                "customer_id": customer_ids.sample(entity_rows, with_replacement=True, seed=seed),
                "event_timestamp": stamps.sample(entity_rows, with_replacement=True, seed=seed + 1)
                + timedelta(hours=1),
            }
        )
        started = time.perf_counter()
        training = features.historical_features(entity_df, SERVICE, store=store)
        historical_s = time.perf_counter() - started
        assert training.height == entity_rows

        latency = {}
        for batch in batch_sizes:
            ids = customer_ids.sample(batch * reads, with_replacement=True, seed=seed + batch)
            features.online_features(ids[:batch], SERVICE, store=store)  # warm-up
            samples = []
            for k in range(reads):
                t0 = time.perf_counter()
                features.online_features(ids[k * batch : (k + 1) * batch], SERVICE, store=store)
                samples.append(time.perf_counter() - t0)
            latency[str(batch)] = _percentiles(samples)
    finally:
        if profile == "production":
            store.teardown()

    return ProfileResult(
        profile=profile,
        online_store=store.config.online_store.type,
        customers=len(customer_ids),
        days=len(stamps),
        feature_rows={
            name: pl.scan_parquet(features_dir / f"{name}.parquet")
            .select(pl.len())
            .collect()
            .item()
            for name in (m.removeprefix("feat_") for m in feature_models())
        },
        materialize_seconds=materialize_s,
        rows_scanned=scanned,
        rows_written=sum(r.rows for r in runs),
        historical_entity_rows=entity_rows,
        historical_seconds=historical_s,
        historical_features=training.width - 2,
        online_latency_ms=latency,
    )


def report_markdown(results: list[ProfileResult]) -> str:
    lines = [
        "| online store | customers | days | materialize s | rows scanned/s | online rows "
        "written/s | historical 100k rows s | p50/p99 ms batch 1 | batch 10 | batch 100 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lat = [
            f"{r.online_latency_ms[b]['p50']:.1f} / {r.online_latency_ms[b]['p99']:.1f}"
            for b in ("1", "10", "100")
        ]
        lines.append(
            f"| {r.online_store} | {r.customers:,} | {r.days} | {r.materialize_seconds:.1f} "
            f"| {r.scanned_per_second:,.0f} | {r.written_per_second:,.0f} "
            f"| {r.historical_seconds:.1f} | {' | '.join(lat)} |"
        )
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
) -> list[ProfileResult]:
    """Build the feature files (unless `features_dir` has them), bench the embedded profile and,
    with both URLs, the production one, then write the report."""
    features_dir = features_dir or build_feature_files(customers, days, workdir / "world", seed)
    profiles = ["embedded"]
    if redis_url and registry_url:
        os.environ["MOPT_REDIS_URL"] = redis_url
        os.environ["FEAST_REGISTRY_URL"] = registry_url
        profiles.append("production")
    results = []
    for profile in profiles:
        result = bench_feature_store(
            features_dir,
            workdir / profile,
            profile=profile,
            entity_rows=entity_rows,
            reads=reads,
            seed=seed,
        )
        print(report_markdown([result]).splitlines()[-1], flush=True)
        results.append(result)
    write_report(results)
    return results


def write_report(results: list[ProfileResult]) -> None:
    payload = {
        "results": [
            asdict(r)
            | {
                "rows_scanned_per_second": r.scanned_per_second,
                "rows_written_per_second": r.written_per_second,
            }
            for r in results
        ],
    }
    publish("features", payload, report_markdown(results))
