"""Shared fixtures: the dbt manifest (Dagster's dbt assets load from it) and a way to build a
warehouse from a folder of raw files with the real ingestion and the real `dbt build`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.lib.contract import tables
from dagster_project.lib.ingest import land_table
from dagster_project.lib.settings import DBT_PROJECT_DIR
from dagster_project.lib.warehouse import connect

DBT = str(Path(sys.executable).parent / "dbt")


def run_dbt(*args: str, duckdb_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run dbt (on a warehouse file); raises with dbt's own output when it fails."""
    env = {**os.environ, **({"MOPT_DUCKDB_PATH": str(duckdb_path)} if duckdb_path else {})}
    result = subprocess.run(
        [DBT, *args, "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{result.stdout[-5000:]}")
    return result


def land_all(raw_dir: Path, duckdb_path: Path) -> None:
    with connect(duckdb_path) as con:
        for name in tables():
            land_table(con, raw_dir, name)


def build_warehouse(raw_dir: Path, duckdb_path: Path, select: str | None = None) -> None:
    """Land every raw file and run `dbt build` (optionally a selection) on the result."""
    land_all(raw_dir, duckdb_path)
    run_dbt("build", *(["--select", select] if select else []), duckdb_path=duckdb_path)


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """dbt's manifest, which the Dagster definitions read (prepare_if_dev is a no-op in tests)."""
    run_dbt("parse", "--quiet")
    return DBT_PROJECT_DIR / "target" / "manifest.json"
