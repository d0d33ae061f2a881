"""The dbt project on Spark (dbt-spark, session method): the landed tables handed over as
Parquet, then the same seeds and models as on DuckDB. Spark runs in this process (the profile's
`spark` target sets it up), so the caller reads the built tables from the same session.

A cluster lands straight into its own catalog; docs/scale-out.md says how to run it there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dagster_project.lib.contract import tables
from dagster_project.lib.settings import DBT_PROJECT_DIR
from dagster_project.lib.warehouse import connect


@dataclass(frozen=True)
class SparkWarehouse:
    """Where a Spark build keeps its catalog (Derby metastore and managed tables), its landed
    Parquet files, its feature files and dbt's target and log folders."""

    root: Path

    @property
    def warehouse_dir(self) -> Path:
        return self.root / "spark-warehouse"

    @property
    def landing_dir(self) -> Path:
        return self.root / "landing"

    @property
    def features_dir(self) -> Path:
        return self.root / "features"


def export_landing(duckdb_path: Path, landing_dir: Path) -> list[str]:
    """Every contract table's landed rows (all text, plus load metadata) as one Parquet file per
    table; the load time as a UTC instant, which Spark reads as its TIMESTAMP."""
    names = list(tables())
    with connect(duckdb_path, read_only=True) as con:
        for name in names:
            (landing_dir / name).mkdir(parents=True, exist_ok=True)
            con.execute(
                f"copy (select * replace (timezone('UTC', _loaded_at) as _loaded_at)"
                f" from landing.{name}) to '{landing_dir / name / 'part-0.parquet'}'"
                " (format parquet)"
            )
    return names


def dbt_on_spark(warehouse: SparkWarehouse, *args: str) -> None:
    """Run one dbt command on the `spark` target in this process; raises if any node failed."""
    # The profile and the feature_file materialization read these; restored afterwards, as
    # this process's own settings read MOPT_FEATURES_DIR too.
    paths = {
        "MOPT_SPARK_WAREHOUSE": str(warehouse.warehouse_dir),
        "MOPT_FEATURES_DIR": str(warehouse.features_dir),
    }
    saved = {name: os.environ.get(name) for name in paths}
    os.environ.update(paths)
    warehouse.features_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = _invoke(warehouse, args)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value
    if not result.success:
        failed = [
            f"{r.node.unique_id}: {r.status} {r.message}"
            for r in getattr(result.result, "results", None) or []
            if str(r.status) not in ("success", "pass")
        ]
        raise RuntimeError(
            f"dbt {' '.join(args)} on Spark failed: " + ("; ".join(failed) or str(result.exception))
        )


def _invoke(warehouse: SparkWarehouse, args: tuple[str, ...]):
    from dbt.cli.main import dbtRunner

    return dbtRunner().invoke(
        [
            *args,
            "--target",
            "spark",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(warehouse.root / "dbt_target"),
            "--log-path",
            str(warehouse.root / "dbt_logs"),
        ]
    )


def build_on_spark(
    duckdb_path: Path, warehouse: SparkWarehouse, select: tuple[str, ...] = ()
) -> None:
    """Hand the warehouse's landed tables to Spark and build the seeds and the models (those
    `select`ed, else all) there."""
    export_landing(duckdb_path, warehouse.landing_dir)
    dbt_on_spark(
        warehouse,
        "run-operation",
        "spark_register_landing",
        "--args",
        f"{{landing_dir: '{warehouse.landing_dir}'}}",
    )
    dbt_on_spark(warehouse, "seed")
    dbt_on_spark(warehouse, "run", *(["--select", *select] if select else []))
