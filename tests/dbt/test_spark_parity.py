"""The dbt models on Spark (dbt-spark, session method, local[2]) give the same tables as on
DuckDB: the landed rows of the shared small world are handed to Spark, built there in full and
then one incremental day (the daily silver models replace their date partitions, numbering on
from the rows before the window), and every model of the ported layers is compared row for row
(floats within a tolerance) with the full DuckDB build.

Every layer is ported: bronze (contract typing and checks, quarantine), silver (int_*) and gold
(dim_*, fct_* and the feat_* feature files, read back through their views). Every model of the
project's manifest in those layers is built on Spark and compared: a new model must be portable."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from dagster_project.lib.spark_engine import SparkWarehouse, build_on_spark, dbt_on_spark
from tests.conftest import DbtRun, query
from tests.dbt.conftest import WORLD

PORTED_LAYERS = ("bronze", "silver", "gold")
# Engine-specific text: JSON of the raw record (Spark leaves out null fields).
ENGINE_SPECIFIC_COLUMNS = {
    "quarantine": {"raw_record"},
    # the run's own time
    "feat_customer__daily": {"created_timestamp"},
    "feat_product__daily": {"created_timestamp"},
    "feat_seller__daily": {"created_timestamp"},
}


def _models(spark_target: Path) -> list[tuple[str, str]]:
    """(schema, model) of every model in the ported layers, from the Spark build's manifest."""
    manifest = json.loads((spark_target / "manifest.json").read_text())
    return sorted(
        (node["schema"], node["name"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] in PORTED_LAYERS
    )


def _normalized(value: object) -> object:
    """One engine's value in a form both agree on: lists as tuples, floats to 6 decimals (the
    engines may sum in another order)."""
    if isinstance(value, list | tuple) or hasattr(value, "tolist"):
        return tuple(_normalized(v) for v in list(value))
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _rows(rows: list[tuple]) -> list[tuple]:
    table = [tuple(_normalized(v) for v in row) for row in rows]
    return sorted(table, key=repr)


@pytest.fixture(scope="module")
def spark_build(world: DbtRun, tmp_path_factory: pytest.TempPathFactory):
    """The shared world's landing built on Spark, then one incremental day of the daily models
    (the window ends 5 days before the data does, so days after it stay as the full build wrote
    them); the Spark session dbt ran in."""
    from pyspark.sql import SparkSession

    warehouse = SparkWarehouse(tmp_path_factory.mktemp("spark_build"))
    build_on_spark(world.duckdb_path, warehouse, select=PORTED_LAYERS)
    day = (WORLD.start_date + timedelta(days=WORLD.days - 5)).isoformat()
    window = f"{{start_date: '{day}', end_date: '{day}'}}"
    dbt_on_spark(warehouse, "run", "--select", "tag:daily", "--vars", window)
    spark = SparkSession.builder.getOrCreate()  # the session dbt-spark started
    yield warehouse, spark
    spark.stop()


@pytest.mark.slow
def test_every_ported_model_is_the_same_on_spark_as_on_duckdb(world: DbtRun, spark_build) -> None:
    warehouse, spark = spark_build
    models = _models(warehouse.root / "dbt_target")
    by_layer = {layer: [m for s, m in models if s == layer] for layer in PORTED_LAYERS}
    counts = {layer: len(names) for layer, names in by_layer.items()}
    # the incremental day replaced its date partitions (dbt-spark's insert_overwrite)
    executed = warehouse.root / "dbt_target/run/mopt/models/silver/int_orders__enriched.sql"
    assert "partition (order_date)" in executed.read_text()
    assert counts["bronze"] >= 25 and counts["silver"] >= 11 and counts["gold"] >= 11, by_layer
    diverged, compared_rows = [], 0
    for schema, model in models:
        skip = ENGINE_SPECIFIC_COLUMNS.get(model, set())
        spark_table = spark.table(f"{schema}.{model}")
        columns = [c for c in spark_table.columns if c not in skip]
        quoted = ", ".join(f'"{c}"' for c in columns)
        on_duckdb = query(world.duckdb_path, f"select {quoted} from {schema}.{model}")
        on_spark = [tuple(r) for r in spark_table.select(*columns).collect()]
        compared_rows += len(on_duckdb)
        if _rows(on_duckdb) != _rows(on_spark):
            diverged.append(f"{schema}.{model} ({len(on_duckdb)} vs {len(on_spark)} rows)")
    assert compared_rows > 1000, compared_rows
    assert not diverged, diverged
