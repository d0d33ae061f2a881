"""The DuckDB floor under `dbt build`: the SQL a build ran, replayed as plain DuckDB statements.

Every model's and test's compiled code, in the order of the build's `run_results.json`, runs on
a copy of the warehouse as it was before the build (landed tables only), with the profile's
DuckDB settings: tables and incremental models as `create table ... as`, views as views, the
feature files as `copy ... to parquet`, tests as a count of their failing rows. Seeds are copied
from the built warehouse (two small reference tables; loading them is not a pass over the data),
and dbt's unit tests (they run on fixtures, not the data) and exposures are left out.
So the floor does the same scans, joins and group-bys as the build, and `dbt build` over it is
what dbt itself adds: start-up, parsing, materialization DDL and metadata queries.

`python -m dagster_project.lib.bench.floor TARGET_DIR WAREHOUSE FEATURES_DIR BUILT_WAREHOUSE`
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import duckdb

PASSES = ("seed", "model", "test")  # the nodes of a build that read or write the data


def replay(target_dir: Path, warehouse: Path, features_dir: Path, built: Path) -> int:
    """Run the build's SQL on `warehouse` (a copy of the landed one); the number of nodes run."""
    results = json.loads((target_dir / "run_results.json").read_text())["results"]
    nodes = json.loads((target_dir / "manifest.json").read_text())["nodes"]
    passes = [r for r in results if r["unique_id"].split(".")[0] in PASSES]
    features_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse)) as con:
        # The profile's settings (dbt/profiles.yml), so the floor has the build's resources.
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"set memory_limit = '{os.environ.get('MOPT_DUCKDB_MEMORY_LIMIT', '12GB')}'")
        con.execute(f"attach '{built}' as built (read_only)")
        for result in passes:
            node = nodes[result["unique_id"]]
            for sql in _statements(node, result, features_dir):
                con.execute(sql)
        con.execute("detach built")
    return len(passes)


def _statements(node: dict, result: dict, features_dir: Path) -> list[str]:
    kind, relation = node["resource_type"], node.get("relation_name")
    if kind == "test":
        return [f"select count(*) from ({result['compiled_code']}) as failures"]
    schema = relation.rsplit(".", 1)[0]
    if kind == "seed":
        return [
            f"create schema if not exists {schema}",
            f"create or replace table {relation} as select * from built.{_unqualified(relation)}",
        ]
    sql = result["compiled_code"]
    materialized = node["config"]["materialized"]
    create = [f"create schema if not exists {schema}"]
    if materialized == "view":
        return [*create, f"create or replace view {relation} as {sql}"]
    if materialized == "feature_file":
        path = features_dir / f"{node['name'].removeprefix('feat_')}.parquet"
        date_column = node["config"]["meta"].get("window_column", "snapshot_date")
        return [
            *create,
            "set preserve_insertion_order = false",
            "set partitioned_write_max_open_files = 100000",
            f"copy ({sql}) to '{path}' (format parquet, compression zstd,"
            f" partition_by ({date_column}), filename_pattern 'data_{{i}}', overwrite)",
            "reset partitioned_write_max_open_files",
            "reset preserve_insertion_order",
            f"create or replace view {relation} as select * from"
            f" read_parquet('{path}/*/*.parquet', hive_partitioning = true)",
        ]
    if materialized in ("table", "incremental"):
        return [*create, f"create or replace table {relation} as {sql}"]
    raise ValueError(f"{node['unique_id']}: no floor for materialization {materialized!r}")


def _unqualified(relation: str) -> str:
    """'"warehouse"."ref"."kr_holidays"' -> '"ref"."kr_holidays"' (to read it from `built`)."""
    return relation.split(".", 1)[1]


if __name__ == "__main__":
    target, warehouse_path, features, built_path = map(Path, sys.argv[1:5])
    print(f"replayed {replay(target, warehouse_path, features, built_path)} nodes")
