"""Foundation benchmark (`mopt bench foundation`): simulate, ingest and dbt build at growing world
sizes, and the DuckDB floor under the build (lib/bench/floor.py: the same SQL as plain DuckDB
statements). Each stage runs as its own process so its wall time and peak memory (max RSS, from
the kernel's rusage) are its own."""

from __future__ import annotations

import shutil
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dagster_project.lib.bench.common import BIN, parse_size, publish, run_stage, world_env
from dagster_project.lib.settings import DBT_PROJECT_DIR


@dataclass
class StageResult:
    customers: int
    days: int
    stage: str
    seconds: float
    peak_rss_mb: float
    rows: int
    run_seconds: list[float] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def seconds_per_1k_customers(self) -> float:
        return self.seconds / (self.customers / 1000)


def _count(duckdb_path: Path, sql: str) -> int:
    from dagster_project.lib.warehouse import connect

    with connect(duckdb_path, read_only=True) as con:
        return sum(row[0] or 0 for row in con.execute(sql).fetchall())


def bench_world(customers: int, days: int, workdir: Path, seed: int = 42) -> list[StageResult]:
    """Simulate, ingest (Dagster landing assets) and `dbt build` one world from scratch, then
    replay the build's SQL on a copy of the landed warehouse (the floor)."""
    workdir = workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    raw, duckdb_path, features = workdir / "raw", workdir / "warehouse.duckdb", workdir / "features"
    floor_path = workdir / "floor" / "warehouse.duckdb"  # same file name: same catalog name
    features.mkdir()
    env = world_env(workdir)
    env.pop("DAGSTER_HOME", None)
    results = []

    def record(
        stage: str,
        args: list[str],
        rows_sql: str | None,
        cwd: Path | None = None,
        db: Path = duckdb_path,
    ):
        seconds, rss = run_stage(args, env, workdir / f"{stage}.log", cwd)
        rows = _count(db, rows_sql) if rows_sql else _raw_rows(raw)
        results.append(StageResult(customers, days, stage, seconds, rss, rows, [seconds]))
        print(
            f"  {customers:>9,} customers x {days} days  {stage:<10} {seconds:8.1f} s "
            f"{rss:8.0f} MB  {rows:>12,} rows",
            flush=True,
        )

    record(
        "simulate",
        [
            str(BIN / "mopt"),
            "simulate",
            "--customers",
            str(customers),
            "--days",
            str(days),
            "--seed",
            str(seed),
            "--out",
            str(raw),
        ],
        None,
    )
    record(
        "ingest",
        [str(BIN / "mopt"), "materialize", "--select", "group:landing"],
        _landing_rows_sql(),
    )
    floor_path.parent.mkdir()
    shutil.copyfile(duckdb_path, floor_path)
    record(
        "dbt_build",
        [
            str(BIN / "dbt"),
            "build",
            "--profiles-dir",
            ".",
            "--target-path",
            str(workdir / "dbt_target"),
            "--log-path",
            str(workdir / "dbt_logs"),
        ],
        _built_rows_sql(features),
        cwd=DBT_PROJECT_DIR,
    )
    record(
        "duckdb_floor",
        [
            sys.executable,
            "-m",
            "dagster_project.lib.bench.floor",
            str(workdir / "dbt_target"),
            str(floor_path),
            str(floor_path.parent / "features"),
            str(duckdb_path),
        ],
        _built_rows_sql(floor_path.parent / "features"),
        db=floor_path,
    )
    if results[-1].rows != results[-2].rows:
        raise RuntimeError(
            f"the floor built {results[-1].rows:,} rows, the dbt build {results[-2].rows:,}"
        )
    return results


def _built_rows_sql(features: Path) -> str:
    return (
        "select sum(estimated_size) from duckdb_tables() where schema_name in "
        "('bronze', 'silver', 'gold') union all select sum(num_rows) from "
        f"parquet_file_metadata('{features}/*.parquet')"
    )


def _raw_rows(raw: Path) -> int:
    """Rows of every contract table's export files (flat or a folder of day parts)."""
    import polars as pl

    from dagster_project.lib.contract import tables
    from dagster_project.lib.ingest import find_files

    files = [p for table in tables() for p in find_files(raw, table)]
    return sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in files)


def _landing_rows_sql() -> str:
    from dagster_project.lib.contract import tables

    return "select " + " + ".join(f"(select count(*) from landing.{t})" for t in tables())


def run(sizes: list[str], workdir: Path, repeats: int = 1) -> list[StageResult]:
    """Every size ('CUSTOMERSxDAYS') from scratch in `workdir/<size>`, `repeats` times; per stage
    the median wall time and the largest peak RSS, then the report."""
    results = []
    for size in sizes:
        runs = [bench_world(*parse_size(size), workdir / size) for _ in range(repeats)]
        results += [_combine(list(stage_runs)) for stage_runs in zip(*runs, strict=True)]
    write_report(results)
    return results


def _combine(runs: list[StageResult]) -> StageResult:
    """One stage's repeated runs as one result. The same seed must give the same rows."""
    rows = {r.rows for r in runs}
    if len(rows) != 1:
        raise RuntimeError(f"{runs[0].stage}: row counts differ between runs: {sorted(rows)}")
    seconds = [r.seconds for r in runs]
    return StageResult(
        runs[0].customers,
        runs[0].days,
        runs[0].stage,
        statistics.median(seconds),
        max(r.peak_rss_mb for r in runs),
        rows.pop(),
        seconds,
    )


def write_report(results: list[StageResult]) -> None:
    payload = {
        "results": [
            asdict(r)
            | {
                "rows_per_second": r.rows_per_second,
                "seconds_per_1k_customers": r.seconds_per_1k_customers,
            }
            for r in results
        ],
    }
    lines = [
        "| customers | days | stage | runs | median wall s | peak RSS MB | rows | rows/s "
        "| s per 1k customers |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.customers:,} | {r.days} | {r.stage} | {len(r.run_seconds)} | {r.seconds:.1f} "
        f"| {r.peak_rss_mb:,.0f} | {r.rows:,} | {r.rows_per_second:,.0f} "
        f"| {r.seconds_per_1k_customers:.2f} |"
        for r in results
    ]
    ratios = build_over_floor(results)
    payload["dbt_build_over_floor"] = ratios
    lines += ["", "dbt build over its DuckDB floor (median wall times):", ""]
    lines += [f"- {size}: {ratio:.2f}x" for size, ratio in ratios.items()]
    publish("foundation", payload, "\n".join(lines))


def build_over_floor(results: list[StageResult]) -> dict[str, float]:
    """Per world size ('100,000 x 365'), the dbt build's wall time over the floor's."""
    by_stage = {(r.customers, r.days, r.stage): r.seconds for r in results}
    return {
        f"{c:,} x {d}": by_stage[(c, d, "dbt_build")] / seconds
        for (c, d, stage), seconds in by_stage.items()
        if stage == "duckdb_floor"
    }
