"""Benchmarks of the platform's stages at growing world sizes: each stage runs as its own process
so its wall time and peak memory (max RSS, from the kernel's rusage) are its own."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sysconfig
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from dagster_project.lib.settings import DBT_PROJECT_DIR

# The scripts (mopt, dbt) of this environment, as dagster_project.defs.resources finds dbt.
BIN = Path(sysconfig.get_path("scripts"))


@dataclass
class StageResult:
    customers: int
    days: int
    stage: str
    seconds: float
    peak_rss_mb: float
    rows: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def seconds_per_1k_customers(self) -> float:
        return self.seconds / (self.customers / 1000)


def run_stage(args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None):
    """Wall seconds and peak RSS (MB) of one command; its output goes to `log`."""
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{log.read_text()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def _count(duckdb_path: Path, sql: str) -> int:
    from dagster_project.lib.warehouse import connect

    with connect(duckdb_path, read_only=True) as con:
        return sum(row[0] or 0 for row in con.execute(sql).fetchall())


def bench_world(customers: int, days: int, workdir: Path, seed: int = 42) -> list[StageResult]:
    """Simulate, ingest (Dagster landing assets) and `dbt build` one world from scratch."""
    workdir = workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    raw, duckdb_path, features = workdir / "raw", workdir / "warehouse.duckdb", workdir / "features"
    features.mkdir()
    env = {
        **os.environ,
        "MOPT_DATA_DIR": str(workdir),
        "MOPT_RAW_DIR": str(raw),
        "MOPT_DUCKDB_PATH": str(duckdb_path),
        "MOPT_FEATURES_DIR": str(features),
    }
    env.pop("DAGSTER_HOME", None)
    results = []

    def record(stage: str, args: list[str], rows_sql: str | None, cwd: Path | None = None):
        seconds, rss = run_stage(args, env, workdir / f"{stage}.log", cwd)
        rows = _count(duckdb_path, rows_sql) if rows_sql else _raw_rows(raw)
        results.append(StageResult(customers, days, stage, seconds, rss, rows))
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
        "select sum(estimated_size) from duckdb_tables() where schema_name in "
        "('bronze', 'silver', 'gold') union all select sum(num_rows) from "
        f"parquet_file_metadata('{features}/*.parquet')",
        cwd=DBT_PROJECT_DIR,
    )
    return results


def _raw_rows(raw: Path) -> int:
    import polars as pl

    return sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in raw.glob("*.parquet"))


def _landing_rows_sql() -> str:
    from dagster_project.lib.contract import tables

    return "select " + " + ".join(f"(select count(*) from landing.{t})" for t in tables())


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def replace_marked_block(docs_path: Path, name: str, table: str) -> None:
    """Put `table` between the `<!-- bench:NAME:begin/end -->` markers of a Markdown file."""
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    block = f"{begin}\n{table}\n{end}"
    text = docs_path.read_text() if docs_path.exists() else ""
    if begin in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text += f"\n{block}\n"
    docs_path.write_text(text)


def write_report(results: list[StageResult], out_dir: Path, docs_path: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": machine(),
        "results": [
            asdict(r)
            | {
                "rows_per_second": r.rows_per_second,
                "seconds_per_1k_customers": r.seconds_per_1k_customers,
            }
            for r in results
        ],
    }
    (out_dir / "foundation.json").write_text(json.dumps(payload, indent=2))
    lines = [
        "| customers | days | stage | wall s | peak RSS MB | rows | rows/s | s per 1k customers |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.customers:,} | {r.days} | {r.stage} | {r.seconds:.1f} | {r.peak_rss_mb:,.0f} "
        f"| {r.rows:,} | {r.rows_per_second:,.0f} | {r.seconds_per_1k_customers:.2f} |"
        for r in results
    ]
    replace_marked_block(docs_path, "foundation", "\n".join(lines))
