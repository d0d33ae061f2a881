"""The forecast assets materialized by Dagster on a warehouse whose silver order lines, weather
and preference table come from the simulated world (dbt itself is tested in tests/dbt)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dagster_project.defs.forecast.assets import (
    daily_category_sales,
    demand_dip_targets,
    demand_forecast,
)
from dagster_project.defs.resources import Warehouse
from dagster_project.lib.simulate import World
from dagster_project.lib.warehouse import connect

from .conftest import TIME_ZONE


@pytest.mark.slow  # a forecast and an 84-origin backtest through Dagster, ~60 s
def test_assets_write_sales_forecast_backtest_and_dip_targets(world: World, tmp_path: Path) -> None:
    t = world.tables
    lines = (
        t["order_items"]
        .join(t["orders"].select("order_id", "ordered_at"), on="order_id")
        .join(t["products"].select("product_id", "category_l1"), on="product_id")
        .select(
            "order_id",
            "category_l1",
            "quantity",
            pl.col("ordered_at").dt.convert_time_zone(TIME_ZONE).dt.date().alias("order_date"),
            (pl.col("quantity") * pl.col("unit_price")).cast(pl.Float64).alias("line_amount_krw"),
        )
    )
    preference = (
        lines.group_by("order_id")
        .agg(pl.col("category_l1").first())
        .join(t["orders"].select("order_id", "customer_id"), on="order_id")
        .group_by("customer_id", "category_l1")
        .agg(preference_index=pl.len().cast(pl.Float64))
    )
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        con.execute("create schema silver; create schema gold")
        con.register("lines", lines)
        con.execute("create table silver.int_order_lines__joined as select * from lines")
        con.register("weather", t["weather"])  # the raw weather file, as silver has it
        con.execute("create table silver.int_weather__daily as select * from weather")
        con.register("pref", preference)
        con.execute("create table gold.customer_category_preference as select * from pref")
    warehouse = Warehouse(
        duckdb_path=str(path), raw_dir=str(tmp_path), features_dir=str(tmp_path / "f")
    )
    result = dg.materialize(
        [daily_category_sales, demand_forecast, demand_dip_targets],
        resources={"warehouse": warehouse},
    )
    assert result.success
    with connect(path, read_only=True) as con:
        forecast = con.sql("select * from gold.demand_forecast").pl()
        backtest = con.sql("select * from gold.demand_forecast_backtest").pl()
        targets = con.sql("select * from gold.demand_dip_targets").pl()
    assert forecast.height == 8 * 28
    assert set(backtest["method"]) == {"lightgbm", "ets", "seasonal_naive"}
    meta = result.asset_materializations_for_node("gold__demand_forecast")[0].metadata
    assert 0.75 <= meta["interval_coverage"].value <= 0.85
    assert meta["weather_days"].value == t["weather"]["date"].n_unique()  # the model saw weather
    assert targets.select("category_l1", "date").unique().height == (
        result.asset_materializations_for_node("gold__demand_dip_targets")[0].metadata["dips"].value
    )
