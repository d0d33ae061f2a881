"""Incremental days (dbt/macros/date_window.sql): a build on every day but the last, then the
last day's run (`--vars {start_date, end_date}`), gives the same tables, row for row, as a full
build on all the data; late rows within the look-back are picked up; an empty day, a re-run and
two days one after the other change nothing they should not; rows later than the look-back are
named by the reconciliation test until a full build picks them up."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.lib.dbt_run import features_dir_of, land_all
from dagster_project.lib.simulate import WorldConfig, simulate, write_world
from tests.conftest import DbtRun, build_warehouse, run_dbt

pytestmark = pytest.mark.slow

WORLD = WorldConfig(customers=600, days=45, seed=5, start_date=date(2025, 3, 1))
LAST = WORLD.start_date + timedelta(days=WORLD.days - 1)
LOOKBACK = 3  # dbt_project.yml's lookback_days
# Event-level tables and the column their business date comes from.
EVENT_TABLES = {
    "sessions": "started_at",
    "events": "occurred_at",
    "orders": "ordered_at",
    "marketing_touches": "occurred_at",
}
FEATURES = ["customer__daily", "product__daily", "seller__daily"]


def business_date(column: str) -> pl.Expr:
    return pl.col(column).dt.convert_time_zone("Asia/Seoul").dt.date()


def write_tables(world_dir: Path, tables: dict[str, pl.DataFrame]) -> None:
    for name, frame in tables.items():
        frame.write_parquet(world_dir / f"{name}.parquet")


def day_vars(start: date, end: date | None = None) -> str:
    return json.dumps({"start_date": start.isoformat(), "end_date": (end or start).isoformat()})


# Which load brought a row: an incremental run keeps the load that first brought an old day's
# rows in bronze (a full build re-reads every row from the latest load).
LOAD_LINEAGE = ["_load_id", "_loaded_at", "load_id"]


def snapshot(duckdb_path: Path) -> dict[str, pl.DataFrame]:
    """Every bronze, silver and gold table and every feature file, sorted, floats rounded,
    without the run's own timestamp (created_timestamp) and the load lineage columns."""
    frames = {}
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        relations = con.sql(
            "select table_schema || '.' || table_name from information_schema.tables"
            " where table_schema in ('bronze', 'silver', 'gold') and table_type = 'BASE TABLE'"
        ).fetchall()
        for (relation,) in relations:
            frames[relation] = con.sql(f"select * from {relation}").pl()
    for name in FEATURES:
        frames[name] = pl.read_parquet(features_dir_of(duckdb_path) / f"{name}.parquet")
    return {name: canonical(frame) for name, frame in frames.items()}


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.drop("created_timestamp", *LOAD_LINEAGE, strict=False)
    frame = frame.with_columns(pl.col(pl.Float64, pl.Float32).round(6))
    sortable = [
        c
        for c, t in frame.schema.items()
        if t.is_numeric() or t in (pl.String, pl.Date, pl.Datetime, pl.Boolean)
    ]
    return frame.sort(sortable, nulls_last=True)


def assert_same(got: dict[str, pl.DataFrame], want: dict[str, pl.DataFrame]) -> None:
    assert got.keys() == want.keys()
    for name in want:
        assert got[name].height == want[name].height, (name, got[name].height, want[name].height)
        assert got[name].equals(want[name]), f"{name} differs from the full build"


def feature_file_times(features_dir: Path) -> dict[str, int]:
    """Every feature file's modification time (ns), by its path under the features dir."""
    return {
        str(p.relative_to(features_dir)): p.stat().st_mtime_ns
        for p in features_dir.glob("*/*/*.parquet")
    }


def copy_warehouse(source: DbtRun, folder: Path) -> Path:
    """A private copy of a built warehouse (file and feature files) in `folder`, under the same
    file name (DuckDB names its catalog after the file; bronze's views name that catalog)."""
    folder.mkdir()
    dest = folder / source.duckdb_path.name
    shutil.copyfile(source.duckdb_path, dest)
    shutil.copytree(features_dir_of(source.duckdb_path), features_dir_of(dest))
    return dest


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """'full': every day, built from scratch. 'incremental': every day but the last, without one
    order of the last day but two (it lands late), built from scratch; then all the data landed
    and the last day run. Plus the raw folders."""
    root = tmp_path_factory.mktemp("incremental")
    world = simulate(WORLD)
    full_raw = write_world(world, root / "full_raw")
    late_day = LAST - timedelta(days=2)
    orders = world.tables["orders"]
    late_order = orders.filter(business_date("ordered_at") == late_day).sort("order_id")[
        "order_id"
    ][0]
    partial_raw = write_world(world, root / "partial_raw")
    partial = {
        name: world.tables[name].filter(business_date(column) < LAST)
        for name, column in EVENT_TABLES.items()
    }
    partial["orders"] = partial["orders"].filter(pl.col("order_id") != late_order)
    partial["order_items"] = world.tables["order_items"].filter(
        pl.col("order_id").is_in(partial["orders"]["order_id"].implode())
    )
    write_tables(partial_raw, partial)
    with ThreadPoolExecutor(max_workers=2) as pool:
        full = pool.submit(build_warehouse, full_raw, root / "full.duckdb")
        first = pool.submit(build_warehouse, partial_raw, root / "incremental.duckdb")
        full, first = full.result(), first.result()
    full.assert_ok()
    first.assert_ok()
    files_before_day = feature_file_times(features_dir_of(first.duckdb_path))
    # the new day's export: every file again (a changed file replaces its landed rows)
    write_tables(partial_raw, {n: world.tables[n] for n in [*EVENT_TABLES, "order_items"]})
    land_all(partial_raw, first.duckdb_path)
    day = run_dbt(first.duckdb_path, partial_raw, "build", "--vars", day_vars(LAST))
    day.assert_ok()
    return {
        "root": root,
        "world": world,
        "full": full,
        "incremental": day,
        "late_order": late_order,
        "files_before_day": files_before_day,
        "want": snapshot(full.duckdb_path),
    }


def test_the_last_day_run_equals_a_full_build_row_for_row(builds: dict) -> None:
    got = snapshot(builds["incremental"].duckdb_path)
    assert_same(got, builds["want"])
    # the day was really built incrementally: silver's window, not every date
    orders = got["silver.int_orders__enriched"]
    assert builds["late_order"] in orders["order_id"].to_list()  # late, within the look-back
    assert orders.filter(pl.col("order_date") == LAST).height > 0
    assert got["customer__daily"]["snapshot_date"].max() == LAST
    compiled = {
        r["unique_id"].split(".")[-1]: r["compiled_code"]
        for r in builds["incremental"].results
        if r.get("compiled_code")
    }
    window_start = (LAST - timedelta(days=LOOKBACK)).isoformat()
    for model in [
        "int_order_lines__joined",
        "int_customer_categories__running",
        "int_customer_days__running",
        "feat_customer__daily",
        "feat_product__daily",
    ]:
        assert f"date '{window_start}'" in compiled[model], model
    # the snapshots read their grid's days (the window and its longest feature window before
    # it): the customers' running states, not the events of every day
    grid_start = {"feat_customer__daily": 90, "feat_product__daily": 30, "feat_seller__daily": 30}
    for model, days in grid_start.items():
        first = (LAST - timedelta(days=LOOKBACK + days)).isoformat()
        assert f">= date '{first}'" in compiled[model], model
    assert "int_events__cleaned" not in compiled["feat_customer__daily"]
    for model in ["int_sessions__attributed", "int_events__cleaned", "int_orders__enriched"]:
        assert "timestamp '" in compiled[model], model
    # bronze's event tables read the window's landed rows; the facts the window's dates (the
    # journeys: the tails of the window's customers)
    for model in ["chk_raw__sessions", "chk_raw__events", "chk_raw__marketing_touches"]:
        assert "timestamp '" in compiled[model], model
    assert "activity_date" in compiled["fct_conversion_tracking"]
    assert f"touch_date in (date '{window_start}'" in compiled["fct_conversion_tracking"]
    assert f"touch_date >= date '{window_start}'" in compiled["fct_touchpoint_journeys"]
    # the daily models' tests read the window; the others every row
    tests = {
        r["unique_id"].split(".")[2]: r["compiled_code"]
        for r in builds["incremental"].results
        if r["unique_id"].startswith("test.")
    }
    assert (
        f"\"event_date\" >= date '{window_start}'" in tests["unique_int_events__cleaned_event_id"]
    )
    assert "timestamp '" in tests["unique_stg_raw__events_event_id"]
    assert (
        f"\"touch_date\" >= date '{window_start}'"
        in tests["unique_fct_touchpoint_journeys_touch_id"]
    )
    assert "date '" not in tests["unique_int_customers__conformed_customer_id"]
    feature_tests = [name for name in tests if "feat_customer__daily" in name]
    assert feature_tests
    for name in feature_tests:
        assert f"\"snapshot_date\" >= date '{window_start}'" in tests[name], name


def test_an_empty_day_a_rerun_and_two_days_in_a_row_change_nothing(builds: dict) -> None:
    path = copy_warehouse(builds["incremental"], builds["root"] / "reruns")
    raw = builds["incremental"].raw_dir
    # a day with no data yet, the last day again, then the day before and the last day
    for start in (LAST + timedelta(days=5), LAST, LAST - timedelta(days=1), LAST):
        run_dbt(path, raw, "build", "--vars", day_vars(start)).assert_ok()
        assert_same(snapshot(path), builds["want"])
    # a range of days in one run (a Dagster backfill over a partition range)
    run_dbt(path, raw, "build", "--vars", day_vars(LAST - timedelta(days=6), LAST)).assert_ok()
    assert_same(snapshot(path), builds["want"])


def test_a_day_run_writes_only_the_window_dates_feature_files(builds: dict) -> None:
    """A feature file is a folder per date, one file each: the day run replaces the window's
    dates (the last day and the look-back days before it) and leaves every older date's file."""
    before = builds["files_before_day"]
    after = feature_file_times(features_dir_of(builds["incremental"].duckdb_path))
    window = {(LAST - timedelta(days=d)).isoformat() for d in range(LOOKBACK + 1)}

    def in_window(path: str) -> bool:
        return path.split("/")[1].removeprefix("snapshot_date=") in window

    assert {p.split("/")[0] for p in after} == {f"{name}.parquet" for name in FEATURES}
    older = {p for p in before if not in_window(p)}
    assert len(older) > 3 * (WORLD.days - LOOKBACK - 10), len(older)
    assert {p: after[p] for p in older} == {p: before[p] for p in older}
    rewritten = {p for p in after if in_window(p)}
    assert {p.split("/")[1] for p in rewritten} == {f"snapshot_date={d}" for d in window}
    assert all(after[p] != before.get(p) for p in rewritten)
    assert all(p.endswith("/data_0.parquet") for p in after)


def test_a_date_folder_with_a_second_file_stops_a_day_run_until_a_full_build(
    builds: dict,
) -> None:
    """Old rows the window's write would not replace (here a stray second file in one of its
    dates) fail the day run and name the file; a full build rewrites the folder."""
    path = copy_warehouse(builds["incremental"], builds["root"] / "stray")
    raw = builds["incremental"].raw_dir
    folder = features_dir_of(path) / "seller__daily.parquet" / f"snapshot_date={LAST}"
    shutil.copyfile(folder / "data_0.parquet", folder / "data_1.parquet")
    select = ("--select", "feat_seller__daily", "--exclude", "test_type:unit")
    day = run_dbt(path, raw, "build", *select, "--vars", day_vars(LAST))
    assert day.returncode != 0
    assert "seller__daily.parquet: the window's dates hold" in day.output, day.output[-2000:]
    run_dbt(path, raw, "build", *select).assert_ok()
    assert sorted(p.name for p in folder.iterdir()) == ["data_0.parquet"]
    assert_same(
        {"seller__daily": snapshot(path)["seller__daily"]},
        {"seller__daily": builds["want"]["seller__daily"]},
    )


def test_a_day_run_names_a_key_sent_again_on_a_later_date_as_a_duplicate(builds: dict) -> None:
    """Bronze's duplicate check in a day run sees the keys of the other dates: an event sent
    again with its old id on the last day is the duplicate, and the original stays clean."""
    path = copy_warehouse(builds["incremental"], builds["root"] / "resent")
    raw = builds["root"] / "resent_raw"
    shutil.copytree(builds["incremental"].raw_dir, raw)
    events = builds["world"].tables["events"]
    original = events.filter(business_date("occurred_at") == LAST - timedelta(days=LOOKBACK + 5))[0]
    resent = original.with_columns(
        occurred_at=events.filter(business_date("occurred_at") == LAST)["occurred_at"].min()
    )
    write_tables(raw, {"events": pl.concat([events, resent])})
    land_all(raw, path)
    run_dbt(path, raw, "build", "--vars", day_vars(LAST))
    event_id = original["event_id"].item()
    with duckdb.connect(str(path), read_only=True) as con:
        rules = con.sql(
            "select _business_date, _broken_rules from bronze.chk_raw__events"
            f" where event_id = '{event_id}' order by _business_date"
        ).fetchall()
    assert rules == [
        (LAST - timedelta(days=LOOKBACK + 5), []),
        (LAST, ["event_id:duplicate_key"]),
    ]


def test_a_day_run_checks_rows_without_a_time_under_1900_01_01(builds: dict) -> None:
    """Rows whose timestamp is missing (any spelling) or no time belong to no business date:
    every window run checks them again, filed under 1900-01-01, and quarantines them."""
    path = copy_warehouse(builds["incremental"], builds["root"] / "untimed")
    raw = builds["root"] / "untimed_raw"
    shutil.copytree(builds["incremental"].raw_dir, raw)
    spellings = {
        "NULL": "required",
        "": "required",
        " n/a ": "required",
        "yesterday": "type_timestamp",
    }
    untimed = (
        builds["world"]
        .tables["events"]
        .head(len(spellings))
        .select(pl.all().cast(pl.String))
        .with_columns(
            event_id=pl.Series([f"untimed-{i}" for i in range(len(spellings))]),
            occurred_at=pl.Series(list(spellings)),
        )
    )
    (raw / "events").mkdir()
    untimed.write_csv(raw / "events" / "untimed.csv")
    land_all(raw, path)
    run_dbt(path, raw, "build", "--vars", day_vars(LAST)).assert_ok()
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.sql(
            "select event_id, _business_date, _broken_rules from bronze.chk_raw__events"
            " where event_id like 'untimed-%' order by event_id"
        ).fetchall()
    assert rows == [
        (f"untimed-{i}", date(1900, 1, 1), [f"occurred_at:{rule}"])
        for i, rule in enumerate(spellings.values())
    ]


def test_counts_and_money_reconcile_after_the_day(builds: dict) -> None:
    got = snapshot(builds["incremental"].duckdb_path)
    world = builds["world"]
    orders = got["silver.int_orders__enriched"]
    assert orders.height == world.tables["orders"].height
    assert orders["order_amount_krw"].sum() == pytest.approx(
        world.tables["orders"]["order_amount"].sum()
    )
    assert got["silver.int_order_lines__joined"].height == world.tables["order_items"].height
    # every customer's sequence is 1..n, in time order, across the day boundary
    numbered = orders.sort("customer_id", "ordered_at", "order_id").with_columns(
        expected=pl.int_range(1, pl.len() + 1).over("customer_id")
    )
    assert (numbered["customer_order_number"] == numbered["expected"]).all()
    # the last snapshot's lifetime revenue per customer is every silver order's amount
    last = got["customer__daily"].filter(pl.col("snapshot_date") == LAST)
    by_customer = orders.group_by("customer_id").agg(pl.col("order_amount_krw").sum())
    joined = by_customer.join(last, on="customer_id", how="left")
    assert joined["revenue_to_date_krw"].null_count() == 0
    assert (joined["revenue_to_date_krw"] - joined["order_amount_krw"]).abs().max() < 1e-6


def test_rows_later_than_the_lookback_are_named_until_a_full_build(builds: dict) -> None:
    path = copy_warehouse(builds["incremental"], builds["root"] / "late")
    raw = builds["root"] / "late_raw"
    shutil.copytree(builds["incremental"].raw_dir, raw)
    world = builds["world"]
    orders = world.tables["orders"]
    old_day = LAST - timedelta(days=LOOKBACK + 5)
    late = (
        orders.filter(business_date("ordered_at") == old_day)
        .head(1)
        .with_columns(
            order_id=pl.lit("LATE-1"),
            session_id=pl.lit(None, pl.String),
            coupon_id=pl.lit(None, pl.String),
        )
    )
    write_tables(raw, {"orders": pl.concat([orders, late])})
    land_all(raw, path)
    day = run_dbt(path, raw, "build", "--vars", day_vars(LAST))
    # the order is in bronze but not in silver: the reconciliation test fails, naming it
    assert day.returncode != 0
    assert any("assert_silver_keeps_bronze" in f for f in day.failures), day.failures
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.sql(
            "select count(*) from silver.int_orders__enriched where order_id = 'LATE-1'"
        ).fetchone() == (0,)
    # a full build (no window) picks it up
    run_dbt(path, raw, "build").assert_ok()
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.sql(
            "select count(*) from silver.int_orders__enriched where order_id = 'LATE-1'"
        ).fetchone() == (1,)


def dagster_daily_run(
    path: Path, raw: Path, start: date, end: date, tags: dict[str, str] | None = None
) -> bool:
    """The daily dbt assets (silver and features) through Dagster, over the days start..end (one
    run over a partition range, as a backfill launches it), or with `tags` instead."""
    import dagster as dg
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )
    from dagster_dbt import DbtCliResource

    from dagster_project.defs.resources import Warehouse, dbt_project
    from dagster_project.defs.transform.assets import dbt_daily_assets_defs

    result = dg.materialize(
        dbt_daily_assets_defs(),
        resources={
            "warehouse": Warehouse(
                duckdb_path=str(path), raw_dir=str(raw), features_dir=str(features_dir_of(path))
            ),
            "dbt": DbtCliResource(project_dir=dbt_project()),
        },
        tags=tags
        or {
            ASSET_PARTITION_RANGE_START_TAG: start.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: end.isoformat(),
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    return result.success


@pytest.fixture
def dbt_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dagster's dbt runs write their artifacts and logs here, not in the project's target/."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))


def test_dagster_runs_a_partition_range_and_two_days_at_once(builds: dict, dbt_artifacts) -> None:
    path = copy_warehouse(builds["incremental"], builds["root"] / "dagster")
    raw = builds["incremental"].raw_dir
    # a backfill over the last week, in one run
    assert dagster_daily_run(path, raw, LAST - timedelta(days=6), LAST)
    assert_same(snapshot(path), builds["want"])
    # two days launched at the same time: the second waits for the first (warehouse write lock)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [
            pool.submit(dagster_daily_run, path, raw, day, day)
            for day in (LAST - timedelta(days=1), LAST)
        ]
        assert [run.result() for run in runs] == [True, True]
    assert_same(snapshot(path), builds["want"])
    # the first build's way (mopt demo): every date, recorded on the latest day; it restores a
    # day outside any window, which a run of the latest partition alone would not
    from dagster_project.defs.transform.assets import full_build_tags

    with duckdb.connect(str(path)) as con:
        old_day = (LAST - timedelta(days=20)).isoformat()
        con.execute(f"delete from silver.int_orders__enriched where order_date = '{old_day}'")

    assert dagster_daily_run(path, raw, LAST, LAST, tags=full_build_tags())
    assert_same(snapshot(path), builds["want"])


def test_two_mopt_materialize_runs_for_different_days_at_once(builds: dict, tmp_path: Path) -> None:
    """Two `mopt materialize --partition` processes for two days, started together, over every
    dbt asset (the unpartitioned ones rebuilt, the daily ones for their day): both succeed, the
    second waiting on the warehouse lock (no DuckDB lock error), and nothing is lost or doubled."""
    import os
    import subprocess
    import sys

    path = copy_warehouse(builds["incremental"], builds["root"] / "mopt")
    mopt = str(Path(sys.executable).with_name("mopt"))
    env = {
        **os.environ,
        "MOPT_DUCKDB_PATH": str(path),
        "MOPT_RAW_DIR": str(builds["incremental"].raw_dir),
        "MOPT_FEATURES_DIR": str(features_dir_of(path)),
        "MOPT_WAREHOUSE_WAIT_S": "600",
    }
    env.pop("DAGSTER_HOME", None)
    procs = []
    for day in (LAST - timedelta(days=1), LAST):
        run_env = {
            **env,
            "DBT_TARGET_PATH": str(tmp_path / f"target_{day}"),
            "DBT_LOG_PATH": str(tmp_path / f"logs_{day}"),
        }
        log = (tmp_path / f"{day}.log").open("w")
        command = [mopt, "materialize", "--select", "kind:dbt", "--partition", day.isoformat()]
        procs.append((subprocess.Popen(command, env=run_env, stdout=log, stderr=log), day))
    for proc, day in procs:
        assert proc.wait(timeout=1200) == 0, (tmp_path / f"{day}.log").read_text()[-4000:]
    for _, day in procs:
        text = (tmp_path / f"{day}.log").read_text()
        assert "Could not set lock" not in text and "Conflicting lock" not in text
    assert_same(snapshot(path), builds["want"])
