"""Incremental-day benchmark (`mopt bench incremental`): what one new day of data costs against
a full build, at one world size.

The world is simulated, its last business day held back, landed and built in full; then the full
export is landed and two `dbt build`s are timed, each `repeats` times: the incremental day
(`--vars {start_date: LAST, end_date: LAST}`: the daily models rebuild that day and the
look-back, every other model is rebuilt as always) and the full build (no vars). A re-run of the
day replaces the same window, so each repeat does the same work. The daily models' own time is
summed from dbt's run_results.json, next to the rest (the other models and every test).
"""

from __future__ import annotations

import json
import shutil
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from dagster_project.lib.bench.common import BIN, parse_size, publish, run_stage, world_env
from dagster_project.lib.settings import DBT_PROJECT_DIR

# Event-level raw tables and the column their business date comes from.
EVENT_TABLES = {
    "sessions": "started_at",
    "events": "occurred_at",
    "orders": "ordered_at",
    "marketing_touches": "occurred_at",
}


@dataclass
class ModeResult:
    customers: int
    days: int
    mode: str
    seconds: float
    daily_models_seconds: float
    other_seconds: float
    peak_rss_mb: float
    run_seconds: list[float] = field(default_factory=list)


def _hold_back_last_day(raw: Path, held: Path, timezone: str) -> str:
    """Move the event tables' last business day out of `raw` (into `held`, at the same relative
    paths). A streamed world (`mopt simulate`) has a file per business date of each event
    table: those of the last day (and of any later one) move. A world of whole files keeps the
    rows before that day, the full files going to `held`."""
    import polars as pl

    held.mkdir()
    if (raw / "orders").is_dir():
        last = max(
            datetime.strptime(p.stem, "part-%Y%m%d").date()
            for p in (raw / "orders").glob("part-*.parquet")
        )
        for name in [*EVENT_TABLES, "order_items"]:
            (held / name).mkdir()
            for p in (raw / name).glob("part-*.parquet"):
                if datetime.strptime(p.stem, "part-%Y%m%d").date() >= last:
                    shutil.move(p, held / name / p.name)
        return last.isoformat()
    for name in [*EVENT_TABLES, "order_items"]:
        shutil.copyfile(raw / f"{name}.parquet", held / f"{name}.parquet")
    orders = pl.read_parquet(raw / "orders.parquet")
    day = pl.col("ordered_at").dt.convert_time_zone(timezone).dt.date()
    last = orders.select(day.max()).item()
    kept_orders = None
    for name, column in EVENT_TABLES.items():
        frame = pl.read_parquet(raw / f"{name}.parquet")
        frame = frame.filter(pl.col(column).dt.convert_time_zone(timezone).dt.date() < last)
        frame.write_parquet(raw / f"{name}.parquet")
        if name == "orders":
            kept_orders = frame["order_id"].implode()
    items = pl.read_parquet(raw / "order_items.parquet")
    items.filter(pl.col("order_id").is_in(kept_orders)).write_parquet(raw / "order_items.parquet")
    return last.isoformat()


def _daily_seconds(run_results: Path) -> tuple[float, float]:
    """Seconds of the daily models (tag `daily`) and of every other node, from dbt's results."""
    manifest = json.loads((run_results.parent / "manifest.json").read_text())
    daily = {
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and "daily" in node.get("tags", [])
    }
    results = json.loads(run_results.read_text())["results"]
    mine = sum(r["execution_time"] for r in results if r["unique_id"] in daily)
    rest = sum(r["execution_time"] for r in results if r["unique_id"] not in daily)
    return mine, rest


def run(
    size: str, workdir: Path, repeats: int = 3, seed: int = 42, timezone: str = "Asia/Seoul"
) -> list[ModeResult]:
    customers, days = parse_size(size)
    workdir = workdir.resolve() / size
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    raw = workdir / "raw"
    (workdir / "features").mkdir()
    env = world_env(workdir)
    env.pop("DAGSTER_HOME", None)
    mopt, dbt = str(BIN / "mopt"), str(BIN / "dbt")
    simulate = [mopt, "simulate", "--customers", str(customers), "--days", str(days)]
    run_stage([*simulate, "--seed", str(seed), "--out", str(raw)], env, workdir / "simulate.log")
    last = _hold_back_last_day(raw, workdir / "held", timezone)
    ingest = [mopt, "materialize", "--select", "group:landing"]
    run_stage(ingest, env, workdir / "ingest.log")
    target = workdir / "dbt_target"

    def build(*args: str, log: str) -> tuple[float, float, float, float]:
        command = [dbt, "build", "--profiles-dir", ".", "--target-path", str(target), *args]
        seconds, rss = run_stage(
            [*command, "--log-path", str(workdir / "dbt_logs")],
            env,
            workdir / log,
            DBT_PROJECT_DIR,
        )
        return seconds, rss, *_daily_seconds(target / "run_results.json")

    first = build(log="first_build.log")
    print(f"  built every day but {last} in {first[0]:.1f} s", flush=True)
    shutil.copytree(workdir / "held", raw, dirs_exist_ok=True)
    run_stage(ingest, env, workdir / "ingest_day.log")
    window = json.dumps({"start_date": last, "end_date": last})
    modes = {"incremental day": ("--vars", window), "full build": ()}
    results = []
    for mode, args in modes.items():
        runs = [build(*args, log=f"{mode.replace(' ', '_')}_{i}.log") for i in range(repeats)]
        for i, r in enumerate(runs):
            print(f"  {mode:<16} run {i + 1}: {r[0]:6.1f} s (daily models {r[2]:.1f} s)")
        results.append(
            ModeResult(
                customers,
                days,
                mode,
                statistics.median(r[0] for r in runs),
                statistics.median(r[2] for r in runs),
                statistics.median(r[3] for r in runs),
                max(r[1] for r in runs),
                [r[0] for r in runs],
            )
        )
    write_report(results, last)
    return results


def write_report(results: list[ModeResult], last_day: str) -> None:
    full = next(r for r in results if r.mode == "full build")
    lines = [
        "| customers | days | dbt build | runs | median wall s | daily models s "
        "| other models and tests s | peak RSS MB | wall vs full | daily models vs full |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.customers:,} | {r.days} | {r.mode} | {len(r.run_seconds)} | {r.seconds:.1f} "
        f"| {r.daily_models_seconds:.1f} | {r.other_seconds:.1f} | {r.peak_rss_mb:,.0f} "
        f"| {r.seconds / full.seconds:.0%} "
        f"| {r.daily_models_seconds / full.daily_models_seconds:.0%} |"
        for r in results
    ]
    payload = {"last_day": last_day, "results": [asdict(r) for r in results]}
    publish("incremental", payload, "\n".join(lines))
