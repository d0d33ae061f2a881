"""The benchmark's DuckDB floor (lib/bench/floor.py) replays a build's SQL: it must make the
same tables and feature files as the build, or the ratio against it would mean nothing."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from dagster_project.lib import dbt_run
from dagster_project.lib.bench.floor import replay
from dagster_project.lib.simulate import WorldConfig, simulate, write_world
from tests.conftest import query, run_dbt

pytestmark = pytest.mark.slow
ROWS = (
    "select schema_name || '.' || table_name, estimated_size from duckdb_tables()"
    " where schema_name in ('bronze', 'silver', 'gold') order by 1"
)


def test_the_floor_makes_every_table_and_feature_file_of_the_build(tmp_path: Path) -> None:
    raw, built = tmp_path / "raw", tmp_path / "built" / "warehouse.duckdb"
    write_world(
        simulate(WorldConfig(customers=100, days=30, seed=5, start_date=date(2025, 3, 1))), raw
    )
    built.parent.mkdir()
    dbt_run.land_all(raw, built)
    floor = tmp_path / "floor" / "warehouse.duckdb"  # the same catalog name as the build's
    floor.parent.mkdir()
    shutil.copyfile(built, floor)
    run_dbt(built, raw, "build").assert_ok()

    replayed = replay(dbt_run.target_dir_of(built), floor, floor.parent / "features", built)

    assert replayed > 200  # every model and data test, not a handful
    assert query(floor, ROWS) == query(built, ROWS)
    built_files = sorted(p.name for p in dbt_run.features_dir_of(built).glob("*.parquet"))
    assert (
        built_files
        and sorted(p.name for p in (floor.parent / "features").glob("*.parquet")) == built_files
    )
    for name in built_files:
        count = f"select count(*) from read_parquet('{{}}/{name}')"
        assert query(floor, count.format(floor.parent / "features")) == query(
            built, count.format(dbt_run.features_dir_of(built))
        )
