"""Fixtures for the dbt silver and gold layers: warehouses built from raw files with the real
ingestion and the real `dbt build`, each in its own DuckDB file and dbt target folder (so builds can
run side by side and never touch the project's own target/). A build takes ~25 s, so the two base
warehouses are built once per session, concurrently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from dagster_project.lib.contract import tables
from dagster_project.lib.ingest import land_table
from dagster_project.lib.settings import DBT_PROJECT_DIR
from dagster_project.lib.simulate import WorldConfig, simulate, write_world
from dagster_project.lib.warehouse import connect

DBT = str(Path(sys.executable).parent / "dbt")
# A small world whose days are all in the past, with every table filled.
WORLD = WorldConfig(customers=150, days=40, seed=3, start_date=date(2025, 3, 1))
# An export with nothing but orders, and only the three required columns. K1's orders are placed
# around a business-date boundary (Asia/Seoul): 2025-03-16T00:30+09:00 is 2025-03-15 15:30 UTC but
# business date 2025-03-16.
ORDERS_ONLY_CSV = """customer_id,ordered_at,order_amount
K1,2025-03-01T10:00:00+09:00,10000
K1,2025-03-15T23:30:00+09:00,20000
K1,2025-03-16T00:30:00+09:00,30000
K1,2025-04-10T12:00:00+09:00,40000
K2,2025-04-20T09:00:00+09:00,5000
K2,2025-04-20T09:00:00+09:00,5000
"""


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
            if r["status"] not in ("success", "pass")
        ]

    def assert_ok(self) -> None:
        assert self.returncode == 0 and not self.failures, (
            "\n".join(self.failures) or self.output[-5000:]
        )


def land_all(raw_dir: Path, duckdb_path: Path) -> None:
    """Land every contract table's files (an absent table lands empty); closes the connection."""
    with connect(duckdb_path) as con:
        for name in tables():
            land_table(con, raw_dir, name)


def run_dbt(duckdb_path: Path, raw_dir: Path, *args: str) -> DbtRun:
    """Run dbt on one warehouse file, with its own target and log folders beside the file."""
    work = duckdb_path.with_suffix("")
    result = subprocess.run(
        [
            DBT,
            *args,
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(work.with_name(work.name + "_target")),
            "--log-path",
            str(work.with_name(work.name + "_logs")),
        ],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "MOPT_DUCKDB_PATH": str(duckdb_path)},
        capture_output=True,
        text=True,
    )
    run_results = work.with_name(work.name + "_target") / "run_results.json"
    results = json.loads(run_results.read_text())["results"] if run_results.exists() else []
    return DbtRun(duckdb_path, raw_dir, result.returncode, result.stdout + result.stderr, results)


def build_warehouse(raw_dir: Path, duckdb_path: Path, *dbt_args: str) -> DbtRun:
    """Land the raw files in `raw_dir` and run `dbt build` (plus any arguments) on the result."""
    land_all(raw_dir, duckdb_path)
    return run_dbt(duckdb_path, raw_dir, "build", *dbt_args)


def query(duckdb_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with connect(duckdb_path, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="session")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DbtRun]:
    """'world': a full simulated world; 'orders_only': ORDERS_ONLY_CSV alone. Built concurrently."""
    root = tmp_path_factory.mktemp("dbt_warehouses")
    world_raw = root / "world_raw"
    write_world(simulate(WORLD), world_raw)
    orders_raw = root / "orders_only_raw"
    orders_raw.mkdir()
    (orders_raw / "orders.csv").write_text(ORDERS_ONLY_CSV)
    with ThreadPoolExecutor(max_workers=2) as pool:
        world = pool.submit(build_warehouse, world_raw, root / "world.duckdb")
        orders_only = pool.submit(build_warehouse, orders_raw, root / "orders_only.duckdb")
        return {"world": world.result(), "orders_only": orders_only.result()}


@pytest.fixture(scope="session")
def world(warehouses: dict[str, DbtRun]) -> DbtRun:
    return warehouses["world"]


@pytest.fixture(scope="session")
def orders_only(warehouses: dict[str, DbtRun]) -> DbtRun:
    return warehouses["orders_only"]
