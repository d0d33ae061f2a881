"""Resources, declared once. Paths come from environment variables (see .env.example)."""

import os
import sysconfig
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource, DbtProject

from dagster_project.lib.dbt_manifest import manifest_is_current, record_parse
from dagster_project.lib.settings import DBT_PROJECT_DIR, Settings
from dagster_project.lib.warehouse import connect, write_lock


class Warehouse(dg.ConfigurableResource):
    """The DuckDB warehouse and the folders around it. DuckDB allows one writer process, so
    every asset that writes here runs in the ``duckdb`` pool and connects only while it works."""

    duckdb_path: str
    raw_dir: str
    features_dir: str

    @contextmanager
    def dbt_environment(self, extra: Mapping[str, str] | None = None) -> Iterator[None]:
        """The environment dbt runs in (dagster-dbt passes os.environ on): this warehouse's file
        and absolute features dir, where dbt writes the feature files (DuckDB's COPY does not
        create folders, so it is created here), and `extra` (the date window)."""
        features_dir = Path(self.features_dir).resolve()
        features_dir.mkdir(parents=True, exist_ok=True)
        paths = {
            "MOPT_DUCKDB_PATH": self.duckdb_path,
            "MOPT_FEATURES_DIR": str(features_dir),
            **(extra or {}),
        }
        saved = {name: os.environ.get(name) for name in paths}
        os.environ.update(paths)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """One long writer (dbt) at a time across processes: lib/warehouse.py's write_lock."""
        with write_lock(self.duckdb_path):
            yield

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(self.duckdb_path, read_only=read_only)
        try:
            yield con
        finally:
            con.close()


@cache
def dbt_project() -> DbtProject:
    # dagster-dbt runs `dbt` by name (also to parse under `dagster dev`): use this environment's,
    # even when it was started without the environment's scripts folder on PATH.
    scripts = sysconfig.get_path("scripts")
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    # dagster-dbt's prepare_if_dev parses on every load under `dagster dev`, which every run from
    # the UI pays again in its own process; parse only when the project or its profile changed.
    warehouse_from_env()  # the profile's warehouse path, as runs will see it
    if project.preparer.using_dagster_dev() and not manifest_is_current(
        project.manifest_path, project.project_dir
    ):
        project.preparer.prepare(project)
        record_parse(project.manifest_path, project.project_dir)
    return project


def warehouse_from_env() -> Warehouse:
    settings = Settings.from_env()
    # dbt's profile reads the same variable: derive it once here when only MOPT_DATA_DIR is set.
    os.environ.setdefault("MOPT_DUCKDB_PATH", str(settings.duckdb_path))
    return Warehouse(
        duckdb_path=str(settings.duckdb_path),
        raw_dir=str(settings.raw_dir),
        features_dir=str(settings.features_dir),
    )


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": warehouse_from_env(),
            "dbt": DbtCliResource(project_dir=dbt_project()),
        }
    )
