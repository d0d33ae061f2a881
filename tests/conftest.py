"""Shared fixtures: the dbt manifest (Dagster's dbt assets load from it), a way to build a
warehouse from raw files with the real ingestion and the real `dbt build`, each in its own DuckDB
file and dbt target folder (so builds can run side by side and never touch dbt/target), and one
tiny world with every asset of the Definitions materialized (the end-to-end and report tests
read it: the whole platform's run is the slowest fixture, so it runs once)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import feast  # noqa: F401  (imported first: see below)
import pytest

from dagster_project.lib import dbt_run
from dagster_project.lib.dbt_run import DBT
from dagster_project.lib.settings import DBT_PROJECT_DIR
from dagster_project.lib.warehouse import connect

# CPython 3.11 keeps one AST recursion counter for all threads (python/cpython#106905): two
# `ast.parse` at once fail with "AST constructor recursion depth mismatch". Feast's import parses
# its own modules (typeguard's @typechecked); it is imported above, before any test starts the
# threads (Dagster's, dbt's) that once raced a fixture's first import of it.


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


@dataclass
class Platform:
    """A tiny world's raw files and every asset materialized from them, in-process."""

    data_dir: Path  # MOPT_DATA_DIR: the warehouse, features and report are here
    raw_dir: Path
    result: object  # dagster.ExecuteInProcessResult

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"


def platform_env(data_dir: Path, raw_dir: Path) -> dict[str, str]:
    """The environment that points the platform at one data folder and one raw folder."""
    return {
        "MOPT_PROFILE": "embedded",
        "MOPT_DATA_DIR": str(data_dir),
        "MOPT_RAW_DIR": str(raw_dir),
        "MOPT_DUCKDB_PATH": str(data_dir / "warehouse.duckdb"),
    }


def materialize_everything(data_dir: Path, raw_dir: Path, run_config: dict | None = None):
    """Every asset of the Definitions the UI loads, in-process on `raw_dir`, as one full build."""
    import dagster as dg

    with pytest.MonkeyPatch.context() as mp:
        for name, value in platform_env(data_dir, raw_dir).items():
            mp.setenv(name, value)
        from dagster_project.definitions import defs
        from dagster_project.defs.transform.assets import full_build_tags

        job = defs().resolve_implicit_global_asset_job_def()
        with dg.DagsterInstance.ephemeral() as instance:
            return job.execute_in_process(
                instance=instance,
                run_config=run_config or {},
                raise_on_error=False,
                tags=full_build_tags(),
            )


@pytest.fixture(scope="session")
def tiny_platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    """1,000 customers x 120 days (the models train on rolling cutoffs: 28 days of history + 3 x
    30, and need enough buyers in each), with a lift study on search ads and price drops, so every
    contract table, the optional ones included, goes through the whole platform."""
    from dagster_project.lib.simulate import WorldConfig, simulate, write_world
    from dagster_project.lib.simulate.params import LiftStudy

    root = tmp_path_factory.mktemp("tiny_platform")
    study = LiftStudy("search_ads", holdout_share=0.3, start_day=28, days=60)
    cfg = WorldConfig(
        customers=1000, days=120, seed=7, lift_studies=(study,), price_drop_share=0.15
    )
    write_world(simulate(cfg), root / "raw")
    # 119 days of sales: a 28-day backtest fits (the asset's default 84 needs 169 days).
    config = {"ops": {"gold__demand_forecast": {"config": {"backtest_days": 28}}}}
    return Platform(root, root / "raw", materialize_everything(root, root / "raw", config))


@pytest.fixture(scope="session")
def orders_only_platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    """Only orders.csv (customer_id, ordered_at, order_amount) of a 1,000-customer, 150-day
    world: the smallest export the platform takes, every asset materialized from it."""
    from dagster_project.lib.simulate import WorldConfig, simulate

    root = tmp_path_factory.mktemp("orders_only_platform")
    (root / "raw").mkdir()
    orders = simulate(WorldConfig(customers=1000, days=150, seed=4)).tables["orders"]
    orders.select("customer_id", "ordered_at", "order_amount").write_csv(root / "raw/orders.csv")
    return Platform(root, root / "raw", materialize_everything(root, root / "raw"))


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """dbt's manifest, which the Dagster definitions read (prepare_if_dev is a no-op in tests)."""
    subprocess.run(
        [DBT, "parse", "--quiet", "--profiles-dir", "."], cwd=DBT_PROJECT_DIR, check=True
    )
    return DBT_PROJECT_DIR / "target" / "manifest.json"
