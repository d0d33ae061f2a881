"""The `mopt` commands people run by hand, through the real CLI entry point."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.lib.warehouse import connect

runner = CliRunner()


def test_simulate_then_materialize_a_selection(tmp_path: Path, monkeypatch) -> None:
    raw = tmp_path / "raw"
    result = runner.invoke(
        app, ["simulate", "--customers", "200", "--days", "30", "--seed", "5", "--out", str(raw)]
    )
    assert result.exit_code == 0, result.output
    assert (raw / "truth" / "manifest.json").exists()

    monkeypatch.setenv("MOPT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MOPT_RAW_DIR", str(raw))
    monkeypatch.setenv("MOPT_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = runner.invoke(app, ["materialize", "--select", "group:landing"])
    assert result.exit_code == 0, result.output
    assert "materialized 12 assets" in result.output

    orders = pl.read_parquet(raw / "orders.parquet")
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        assert con.execute("select count(*) from landing.orders").fetchone()[0] == len(orders)
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_tables()").fetchall()}
    assert schemas == {"landing"}  # the selection ran nothing downstream


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("simulate", "materialize", "demo", "bench"):
        assert command in result.output


BENCH_SUITES = ("foundation", "demo", "features", "models", "segments", "attribution")


def test_bench_lists_every_suite() -> None:
    result = runner.invoke(app, ["bench", "--help"])
    assert result.exit_code == 0, result.output
    for suite in BENCH_SUITES:
        assert suite in result.output


@pytest.mark.parametrize("suite", BENCH_SUITES)
def test_each_bench_suite_has_help(suite: str) -> None:
    result = runner.invoke(app, ["bench", suite, "--help"])
    assert result.exit_code == 0, result.output
    assert f"bench {suite} [OPTIONS]" in result.output


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
        f'error: IOException: IO Error: Cannot open database "{tmp_path / "warehouse.duckdb"}"'
        " in read-only mode: database does not exist"
    ]
