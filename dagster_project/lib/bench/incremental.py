"""Incremental-day benchmark (`mopt bench incremental`): what one new day of data costs against
a full build, at one world size.

The world is simulated, its last business day held back, landed and built in full; then the full
export is landed and three `dbt build`s are timed, each `repeats` times: the full build (no
window), the incremental day with the window in the environment (MOPT_DBT_START_DATE/END_DATE =
LAST, as Dagster passes it, and without dbt's unit tests, as Dagster's day runs: the daily models
rebuild that day and the look-back, their tests read the window, every other model is rebuilt as
always), and the same day with the window as
`--vars` (a new value on every run, as each new day brings: dbt then parses the whole project
again). A re-run of the day replaces the same window, so each repeat does the same work. The
daily models' own time is summed from dbt's run_results.json, next to the other models and the
tests; what is left of the wall time (one dbt thread) is dbt's start-up, parse and bookkeeping.
Each build takes `lock` (if given) for itself only, so other heavy jobs run between builds.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import shutil
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from dagster_project.lib.bench.common import (
    BIN,
    OUT_DIR,
    parse_size,
    publish,
    run_stage,
    world_env,
)
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
    other_models_seconds: float
    tests_seconds: float
    overhead_seconds: float
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


def _held_back_day(held: Path, timezone: str) -> str:
    """The business day _hold_back_last_day held back (the last day of the full orders file)."""
    import polars as pl

    if (held / "orders").is_dir():
        return max(
            datetime.strptime(p.stem, "part-%Y%m%d").date()
            for p in (held / "orders").glob("part-*.parquet")
        ).isoformat()
    orders = pl.read_parquet(held / "orders.parquet")
    day = pl.col("ordered_at").dt.convert_time_zone(timezone).dt.date()
    return orders.select(day.max()).item().isoformat()


def _first_build_seconds(log: Path) -> float:
    """The first build's wall time (written beside its log), else dbt's own closing figure."""
    import re

    wall = log.with_suffix(".seconds")
    if wall.exists():
        return float(wall.read_text())
    found = re.findall(r"\(([0-9.]+)s\)", log.read_text())
    return float(found[-1]) if found else float("nan")


def _first_build_rss_mb(log: Path) -> float:
    """The first build's peak RSS (written beside its log; NaN for a run before it was)."""
    rss = log.with_suffix(".rss_mb")
    return float(rss.read_text()) if rss.exists() else float("nan")


def _megabytes(mb: float) -> str:
    return "–" if math.isnan(mb) else f"{mb:,.0f}"


def _node_seconds(run_results: Path, manifest: Path | None = None) -> tuple[float, float, float]:
    """Seconds of the daily models (tag `daily`), the other models and seeds, and the tests
    (data and unit), from dbt's results."""
    nodes = json.loads((manifest or run_results.parent / "manifest.json").read_text())["nodes"]
    daily = {
        uid
        for uid, node in nodes.items()
        if node["resource_type"] == "model" and "daily" in node.get("tags", [])
    }
    results = json.loads(run_results.read_text())["results"]
    tests = [r for r in results if r["unique_id"].split(".")[0] in ("test", "unit_test")]
    mine = sum(r["execution_time"] for r in results if r["unique_id"] in daily)
    tested = sum(r["execution_time"] for r in tests)
    rest = sum(r["execution_time"] for r in results) - mine - tested
    return mine, rest, tested


@contextlib.contextmanager
def _held(lock: Path | None):
    """The shared lock for one stage (none: no lock), so other heavy jobs run between stages."""
    if lock is None:
        yield
        return
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run(
    size: str,
    workdir: Path,
    repeats: int = 3,
    seed: int = 42,
    timezone: str = "Asia/Seoul",
    lock: Path | None = None,
    resume: bool = False,
    modes: list[str] | None = None,
) -> list[ModeResult]:
    """`resume`: reuse the world of an earlier run in `workdir` whose first build finished (the
    timed builds start with full builds, so they rebuild it with the current models)."""
    customers, days = parse_size(size)
    workdir = workdir.resolve() / size
    raw = workdir / "raw"
    env = world_env(workdir)
    env.pop("DAGSTER_HOME", None)
    mopt, dbt = str(BIN / "mopt"), str(BIN / "dbt")
    ingest = [mopt, "materialize", "--select", "group:landing"]
    target = workdir / "dbt_target"
    resumed = resume and (workdir / "first_build_run_results.json").exists()
    landed = resume and (workdir / "ingest.log").exists() and (workdir / "held").exists()
    if landed and not resumed:
        last = _held_back_day(workdir / "held", timezone)
    if not resumed and not landed:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        (workdir / "features").mkdir()
        simulate = [mopt, "simulate", "--customers", str(customers), "--days", str(days)]
        with _held(lock):
            run_stage(
                [*simulate, "--seed", str(seed), "--out", str(raw)], env, workdir / "simulate.log"
            )
            last = _hold_back_last_day(raw, workdir / "held", timezone)
            run_stage(ingest, env, workdir / "ingest.log")

    def build(*args: str, log: str, window_env: dict[str, str] | None = None) -> tuple:
        command = [dbt, "build", "--profiles-dir", ".", "--target-path", str(target), *args]
        with _held(lock if not series_lock else None):
            seconds, rss = run_stage(
                [*command, "--log-path", str(workdir / "dbt_logs")],
                {**env, **(window_env or {})},
                workdir / log,
                DBT_PROJECT_DIR,
            )
        (workdir / log).with_suffix(".seconds").write_text(f"{seconds:.3f}")
        (workdir / log).with_suffix(".rss_mb").write_text(f"{rss:.0f}")
        results = target / "run_results.json"
        shutil.copyfile(results, workdir / log.replace(".log", "_run_results.json"))
        return seconds, rss, *_node_seconds(results)

    series_lock = False
    if not resumed:
        first = build(log="first_build.log")
        print(f"  built every day but {last} in {first[0]:.1f} s", flush=True)
    else:
        last = _held_back_day(workdir / "held", timezone)
        print(f"  resumed: every day but {last} built", flush=True)
    shutil.copytree(workdir / "held", raw, dirs_exist_ok=True)
    day_env = {"MOPT_DBT_START_DATE": last, "MOPT_DBT_END_DATE": last}

    def day_vars(i: int) -> tuple[str, str]:
        # a new value each run, as a new day brings one: dbt re-parses on a changed --vars
        return "--vars", json.dumps({"start_date": last, "end_date": last, "bench_run": i})

    # a day's run as Dagster starts it (defs/transform/assets.py: dbt_build_args)
    day = ("--exclude-resource-type", "unit_test")
    every_mode = {
        "full build": lambda i: build(log=f"full_build_{i}.log"),
        "incremental day": lambda i: build(
            *day, log=f"incremental_day_{i}.log", window_env=day_env
        ),
        "incremental day, --vars": lambda i: build(*day, *day_vars(i), log=f"day_vars_{i}.log"),
    }
    chosen = {m: every_mode[m] for m in (modes or every_mode)}
    results = []
    first_results = workdir / "first_build_run_results.json"
    if first_results.exists():
        # the first build (every day but the last), one run: it stands in for a full build
        # that --modes leaves out
        seconds = _first_build_seconds(workdir / "first_build.log")
        mine, rest, tested = _node_seconds(first_results, target / "manifest.json")
        results.append(
            ModeResult(
                customers,
                days,
                "first build (every day but the last)",
                seconds,
                mine,
                rest,
                tested,
                seconds - mine - rest - tested,
                _first_build_rss_mb(workdir / "first_build.log"),
                [seconds],
            )
        )
    # the shared lock per mode (its repeats back to back), not per build: with many jobs queued
    # on it, one wait per build made a 20k series take hours
    series_lock = True
    for n, (mode, run_one) in enumerate(chosen.items()):
        with _held(lock):
            if n == 0:
                run_stage(ingest, env, workdir / "ingest_day.log")
            runs = [run_one(i) for i in range(repeats)]
        for i, r in enumerate(runs):
            print(f"  {mode:<24} run {i + 1}: {r[0]:6.1f} s (daily models {r[2]:.1f} s)")
        results.append(
            ModeResult(
                customers,
                days,
                mode,
                statistics.median(r[0] for r in runs),
                statistics.median(r[2] for r in runs),
                statistics.median(r[3] for r in runs),
                statistics.median(r[4] for r in runs),
                statistics.median(r[0] - r[2] - r[3] - r[4] for r in runs),
                max(r[1] for r in runs),
                [r[0] for r in runs],
            )
        )
        write_report(results, last)  # after each mode: a stopped series keeps what it measured
    return results


def write_report(results: list[ModeResult], last_day: str) -> None:
    """The table of every size measured so far (bench/out/incremental.json keeps the others)."""
    previous = OUT_DIR / "incremental.json"
    sizes = {(r.customers, r.days) for r in results}
    kept = []
    if previous.exists():
        kept = [
            ModeResult(**r)
            for r in json.loads(previous.read_text()).get("results", [])
            if (r["customers"], r["days"]) not in sizes and "tests_seconds" in r
        ]
    every = sorted([*kept, *results], key=lambda r: (r.customers, r.days))
    lines = [
        "| customers | days | dbt build | runs | median wall s | daily models s | other models s "
        "| tests s | dbt start-up, parse s | peak RSS MB | wall vs full |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in every:
        # against the full build; without one (--modes), the first build (every day but one)
        same = [f for f in every if f.customers == r.customers]
        full = next(
            (f for f in same if f.mode == "full build"),
            next((f for f in same if f.mode.startswith("first build")), r),
        )
        lines.append(
            f"| {r.customers:,} | {r.days} | {r.mode} | {len(r.run_seconds)} | {r.seconds:.1f} "
            f"| {r.daily_models_seconds:.1f} | {r.other_models_seconds:.1f} "
            f"| {r.tests_seconds:.1f} | {r.overhead_seconds:.1f} | {_megabytes(r.peak_rss_mb)} "
            f"| {r.seconds / full.seconds:.0%} |"
        )
    payload = {"last_day": last_day, "results": [asdict(r) for r in every]}
    publish("incremental", payload, "\n".join(lines))
