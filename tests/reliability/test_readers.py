"""People read the warehouse while runs write it: writers wait for a reader that holds the live
file, and every successful run publishes a read copy that readers open instead."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.ingest.assets import landing_asset
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.schedules import publish_read_copy_sensor
from dagster_project.lib.warehouse import (
    WarehouseBusy,
    connect,
    connect_read_copy,
)
from tests.reliability.test_cli_failures import run_mopt, world_env

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); print(1, flush=True); time.sleep(float(sys.argv[2]))"  # noqa: E501


def hold_read_only(path: Path, seconds: float) -> subprocess.Popen:
    """Another process (a notebook, say) holding a read-only connection to the file."""
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout.readline().strip() == "1"  # it holds the lock now
    return reader


@pytest.fixture
def warehouse_file(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        con.execute("create table t as select 1 as x")
    return path


def test_a_writer_waits_for_a_reader_that_holds_the_file(warehouse_file: Path) -> None:
    reader = hold_read_only(warehouse_file, 1.5)
    start = time.monotonic()
    with connect(warehouse_file, wait_s=30) as con:  # used to fail at once with a lock error
        con.execute("insert into t values (2)")
    assert time.monotonic() - start > 0.5  # it did wait for the reader
    reader.wait(timeout=30)


def test_a_writer_that_waited_too_long_names_the_holder_and_the_read_copy(
    warehouse_file: Path,
) -> None:
    reader = hold_read_only(warehouse_file, 30)
    try:
        with pytest.raises(WarehouseBusy, match=rf"PID {reader.pid}\).*warehouse\.read\.duckdb"):
            connect(warehouse_file, wait_s=0.5)
    finally:
        reader.kill()
        reader.wait()


def test_the_sensor_publishes_a_read_copy_after_a_successful_run(
    tmp_path: Path, monkeypatch
) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "orders.csv").write_text("customer_id,ordered_at,order_amount\nc1,2025-05-01,1\n")
    monkeypatch.setenv("MOPT_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    warehouse = Warehouse(
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        raw_dir=str(raw),
        features_dir=str(tmp_path / "features"),
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [landing_asset("orders")], instance=instance, resources={"warehouse": warehouse}
        )
        (success,) = [
            e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS
        ]
        context = dg.build_run_status_sensor_context(
            sensor_name="publish_read_copy_sensor",
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
            dagster_event=success,
        )
        publish_read_copy_sensor(context)
    with connect_read_copy(tmp_path / "warehouse.duckdb") as con:
        assert con.execute("select count(*) from landing.orders").fetchone() == (1,)


def bronze_tables(data_dir: Path) -> int:
    with connect_read_copy(data_dir / "warehouse.duckdb") as con:
        sql = "select count(*) from duckdb_tables() where schema_name = 'bronze'"
        return con.execute(sql).fetchone()[0]


@pytest.mark.slow
def test_a_reader_loop_during_a_run_never_breaks_it(tmp_path: Path) -> None:
    env = world_env(tmp_path)
    simulate = ["simulate", "--customers", "300", "--days", "40", "--out", str(tmp_path / "raw")]
    assert run_mopt(simulate, env, 300).returncode == 0
    first = run_mopt(["materialize", "--select", "group:landing"], env, 300)
    assert first.returncode == 0, first.stderr
    assert bronze_tables(tmp_path) == 0

    reads, errors, stop = [], [], threading.Event()

    def read_loop() -> None:  # a BI tool polling the published copy
        while not stop.is_set():
            try:
                with connect_read_copy(tmp_path / "warehouse.duckdb") as con:
                    reads.append(con.execute("select count(*) from landing.orders").fetchone()[0])
            except Exception as err:  # noqa: BLE001 - every failure is the test's finding
                errors.append(repr(err))
            time.sleep(0.05)

    poller = threading.Thread(target=read_loop)
    poller.start()
    try:
        run = run_mopt(["materialize", "--select", "group:landing or group:bronze"], env, 900)
    finally:
        stop.set()
        poller.join()
    assert run.returncode == 0, run.stderr[-3000:]
    assert errors == [] and len(reads) > 20
    assert bronze_tables(tmp_path) > 0  # the copy now holds the new run's state
