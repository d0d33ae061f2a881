"""Shared fixtures: the dbt manifest (Dagster's dbt assets load from it) and a way to build a
warehouse from raw files with the real ingestion and the real `dbt build`, each in its own DuckDB
file and dbt target folder (so builds can run side by side and never touch dbt/target)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dagster_project.lib import dbt_run
from dagster_project.lib.dbt_run import DBT
from dagster_project.lib.settings import DBT_PROJECT_DIR
from dagster_project.lib.warehouse import connect


@dataclass
class DbtRun:
    """A finished dbt invocation: exit code, console output and run_results.json's results."""

    duckdb_path: Path
    raw_dir: Path
    returncode: int
    output: str
    results: list[dict] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """Nodes that did not succeed, with their status and message."""
        return [
            f"{r['unique_id']}: {r['status']} {r.get('message') or ''}".strip()
            for r in self.results
            # dbt build lists exposures (dbt/models/exposures.yml) as no-op: nothing to run.
            if r["status"] not in ("success", "pass", "no-op")
        ]

    def assert_ok(self) -> None:
        assert self.returncode == 0 and not self.failures, (
            "\n".join(self.failures) or self.output[-5000:]
        )


def run_dbt(duckdb_path: Path, raw_dir: Path, *args: str) -> DbtRun:
    """Run dbt on one warehouse file, with its own target, log and feature folders beside it."""
    result = dbt_run.run_dbt(duckdb_path, *args)
    run_results = dbt_run.target_dir_of(duckdb_path) / "run_results.json"
    results = json.loads(run_results.read_text())["results"] if run_results.exists() else []
    return DbtRun(duckdb_path, raw_dir, result.returncode, result.stdout + result.stderr, results)


def build_warehouse(raw_dir: Path, duckdb_path: Path, *dbt_args: str) -> DbtRun:
    """Land the raw files in `raw_dir` and run `dbt build` (plus any arguments) on the result."""
    dbt_run.land_all(raw_dir, duckdb_path)
    return run_dbt(duckdb_path, raw_dir, "build", *dbt_args)


def query(duckdb_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with connect(duckdb_path, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """dbt's manifest, which the Dagster definitions read (prepare_if_dev is a no-op in tests)."""
    subprocess.run(
        [DBT, "parse", "--quiet", "--profiles-dir", "."], cwd=DBT_PROJECT_DIR, check=True
    )
    return DBT_PROJECT_DIR / "target" / "manifest.json"
