"""Every `mopt` command ends promptly with exit code 1 and its cause on one line, whatever
fails (the installed script in its own process, under a timeout)."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

MOPT = str(Path(sysconfig.get_path("scripts")) / "mopt")


def run_mopt(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """The installed `mopt` script in its own process, as a user runs it (the entry point's
    error handling is outside what CliRunner exercises)."""
    return subprocess.run(
        [MOPT, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def world_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "MOPT_TRACEBACK")}
    env.update(MOPT_DATA_DIR=str(tmp_path), MOPT_RAW_DIR=str(tmp_path / "raw"))
    env["MOPT_DUCKDB_PATH"] = str(tmp_path / "warehouse.duckdb")
    return env


def test_a_failing_asset_ends_the_run_with_its_cause_on_one_line(tmp_path: Path) -> None:
    """An asset that raises (an empty orders.csv: no required columns) used to leave the process
    spinning in the traceback renderer; it must exit 1 promptly and name the file and rule."""
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "orders.csv").write_text("")
    done = run_mopt(["materialize", "--select", "landing/orders"], world_env(tmp_path), 120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("failed: landing__orders: ")
    assert "orders.csv" in last and "lacks required column(s)" in last


def test_any_failing_command_exits_with_a_one_line_cause(tmp_path: Path) -> None:
    done = run_mopt(["uplift-report"], world_env(tmp_path), 60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: FileNotFoundError: {tmp_path / 'warehouse.read.duckdb'}: no published warehouse"
        " yet; a successful run (`mopt materialize`) publishes it"
    ]
