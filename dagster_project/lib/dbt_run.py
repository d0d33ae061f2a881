"""dbt on a warehouse file of its own: a test world, a lab world. Each file gets its own target,
log and feature folders beside it, so several warehouses build side by side without sharing
dbt's state (the platform's own runs go through dagster-dbt instead)."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

from dagster_project.lib.settings import DBT_PROJECT_DIR

DBT = str(Path(sysconfig.get_path("scripts")) / "dbt")


def features_dir_of(duckdb_path: Path) -> Path:
    """Where dbt writes a warehouse's feature files: its own folder beside the file."""
    work = duckdb_path.with_suffix("")
    return work.with_name(work.name + "_features")


def target_dir_of(duckdb_path: Path) -> Path:
    work = duckdb_path.with_suffix("")
    return work.with_name(work.name + "_target")


def run_dbt(duckdb_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `dbt *args` on `duckdb_path`; the caller reads the return code and the output."""
    work = duckdb_path.with_suffix("")
    features_dir_of(duckdb_path).mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [
            DBT,
            *args,
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target_dir_of(duckdb_path)),
            "--log-path",
            str(work.with_name(work.name + "_logs")),
        ],
        cwd=DBT_PROJECT_DIR,
        env={
            **os.environ,
            "MOPT_DUCKDB_PATH": str(duckdb_path),
            "MOPT_FEATURES_DIR": str(features_dir_of(duckdb_path)),
        },
        capture_output=True,
        text=True,
    )


def land_all(raw_dir: Path, duckdb_path: Path) -> None:
    """Land every contract table's files (an absent table lands empty); closes the connection."""
    from dagster_project.lib.contract import tables
    from dagster_project.lib.ingest import land_table
    from dagster_project.lib.warehouse import connect

    with connect(duckdb_path) as con:
        for name in tables():
            land_table(con, raw_dir, name)
