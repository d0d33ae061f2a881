"""Kill semantics: a run whose parent (`uv run`) is killed with SIGKILL stops and is marked
failed, even when a step swallowed the first interrupt; a run whose own process is killed is
marked failed by the next run, which needs no manual cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest

from dagster_project.lib.settings import REPO_ROOT
from tests.reliability.test_cli_failures import MOPT, run_mopt, world_env

pytestmark = pytest.mark.slow
SELECT = "group:landing or group:reference or group:bronze"
# A stand-in for `uv run`: a parent that starts mopt and waits for it.
PARENT = "import subprocess, sys; subprocess.run(sys.argv[1:])"


@pytest.fixture
def world(tmp_path: Path) -> dict[str, str]:
    env = world_env(tmp_path)
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    Path(env["DAGSTER_HOME"]).mkdir()
    (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text(
        (REPO_ROOT / "deploy" / "dagster.local.yaml").read_text()
    )
    simulate = ["simulate", "--customers", "300", "--days", "40", "--out", str(tmp_path / "raw")]
    assert run_mopt(simulate, env, 300).returncode == 0
    return env


def runs(env: dict[str, str]) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        return list(instance.get_runs())


def wait_for_started_run(env: dict[str, str], timeout: float = 120) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = [r for r in runs(env) if r.status == dg.DagsterRunStatus.STARTED]
        if started:
            time.sleep(3)  # into the run's steps
            return started[0]
        time.sleep(0.5)
    raise AssertionError("no run started")


def alive(pid: int) -> bool:
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def test_killing_the_parent_stops_the_run_and_marks_it_failed(world: dict[str, str]) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, MOPT, "materialize", "--select", SELECT], env=world
    )
    run = wait_for_started_run(world)
    (worker,) = psutil.Process(parent.pid).children()
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60
    while alive(worker.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive(worker.pid), "the run went on without its parent"
    (after,) = [r for r in runs(world) if r.run_id == run.run_id]
    assert after.status == dg.DagsterRunStatus.FAILURE


# A step that swallows the first interrupt, as DuckDB's lazy import of pandas did in the
# landing steps (the run then went on and was marked a success).
SWALLOWING_RUN = """
import pathlib, sys, time
import dagster as dg
from dagster_project.cli import _stop_with_parent

_stop_with_parent()
started, outcome = map(pathlib.Path, sys.argv[1:])

@dg.asset
def swallows_one_interrupt() -> None:
    started.touch()
    try:
        time.sleep(60)
    except BaseException:
        pass
    time.sleep(60)

result = dg.materialize([swallows_one_interrupt], raise_on_error=False)
outcome.write_text("success" if result.success else "failure")
"""


def test_killing_the_parent_stops_a_step_that_swallowed_the_interrupt(tmp_path: Path) -> None:
    started, outcome = tmp_path / "started", tmp_path / "outcome"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, sys.executable, "-c", SWALLOWING_RUN, started, outcome],
        cwd=REPO_ROOT,
    )
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    (worker,) = psutil.Process(parent.pid).children()
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    worker.wait(timeout=30)  # well before the step's two minutes
    assert outcome.read_text() == "failure"


def test_a_killed_worker_is_marked_failed_by_the_next_run(world: dict[str, str]) -> None:
    worker = subprocess.Popen([MOPT, "materialize", "--select", SELECT], env=world)
    run = wait_for_started_run(world)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert [r.status for r in runs(world)] == [dg.DagsterRunStatus.STARTED]  # left behind

    again = run_mopt(["materialize", "--select", "group:landing"], world, 300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"run {run.run_id}: its process (PID {worker.pid}) ended" in again.stderr
    statuses = {r.run_id: r.status for r in runs(world)}
    assert statuses.pop(run.run_id) == dg.DagsterRunStatus.FAILURE
    assert list(statuses.values()) == [dg.DagsterRunStatus.SUCCESS]
