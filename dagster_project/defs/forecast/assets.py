"""Daily sales per category, the demand forecast (global LightGBM, backtested against ETS and
seasonal naive) and the upcoming demand dips with the customers who prefer that category.
Forecasting libraries are imported inside the assets: loading the definitions stays light."""

import dagster as dg
import polars as pl

from dagster_project.defs import metadata as md
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.transform.assets import model_key

SALES_KEY = dg.AssetKey(["gold", "daily_category_sales"])
FORECAST_KEY = dg.AssetKey(["gold", "demand_forecast"])
DIPS_KEY = dg.AssetKey(["gold", "demand_dip_targets"])
PREFERENCE_KEY = dg.AssetKey(["gold", "customer_category_preference"])


class ForecastConfig(dg.Config):
    measure: str = "revenue_krw"  # orders, units or revenue_krw
    horizon_days: int = 28
    backtest_days: int = 84
    seed: int = 0


class DipConfig(dg.Config):
    threshold: float = 0.85  # a dip: forecast below this share of the usual (28-day mean) day
    targets_per_dip: int = 200


def _write(con, table: str, frame: pl.DataFrame) -> None:
    con.register("frame", frame)
    con.execute(f"create or replace table {table} as select * from frame")
    con.unregister("frame")


@dg.asset(
    key=SALES_KEY,
    group_name="gold",
    kinds={"polars", "duckdb"},
    pool="duckdb",
    deps=[model_key("int_order_lines__joined"), model_key("int_orders__enriched")],
)
def daily_category_sales(warehouse: Warehouse) -> dg.MaterializeResult:
    """One row per category and business day: orders, units and revenue (order-line amounts),
    zeros on days without sales. An orders-only export has no lines: one `total` series of
    paid order amounts instead."""
    from dagster_project.lib.forecast.daily import daily_from_warehouse

    with warehouse.connect(read_only=True) as con:
        daily = daily_from_warehouse(con)
    with warehouse.connect() as con:
        _write(con, "gold.daily_category_sales", daily)
    totals = daily.group_by("series").agg(pl.col("orders", "units", "revenue_krw").sum())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": daily.height,
            "series": daily["series"].n_unique(),
            "first_date": str(daily["date"].min()),
            "last_date": str(daily["date"].max()),
            "totals": md.table(totals.sort("series")),
        }
    )


@dg.asset(
    key=FORECAST_KEY,
    group_name="gold",
    kinds={"lightgbm", "duckdb"},
    pool="duckdb",
    deps=[SALES_KEY, model_key("int_weather__daily")],
)
def demand_forecast(
    context: dg.AssetExecutionContext, config: ForecastConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """One row per category and upcoming day (horizon 1-28): the global LightGBM forecast with
    its 80 % interval, seasonal naive and the usual level. Also gold.demand_forecast_backtest:
    the rolling-origin backtest (MASE, WAPE per category, horizon 1/7/28 and method: LightGBM,
    ETS, seasonal naive), and gold.demand_weekday_index (the seed's weekday seasonal index)."""
    from datetime import timedelta

    from dagster_project.lib.forecast import seasonal
    from dagster_project.lib.forecast.backtest import forecast_ahead, model_calendar, run_backtest
    from dagster_project.lib.forecast.calendar import holiday_calendar, warehouse_weather
    from dagster_project.lib.forecast.models import ForecastParams
    from dagster_project.lib.forecast.report import backtest_markdown, forecast_chart

    with warehouse.connect(read_only=True) as con:
        daily = con.sql("select * from gold.daily_category_sales").pl()
        weather = warehouse_weather(con)
    first, last = daily["date"].min(), daily["date"].max()
    ahead_last = last + timedelta(days=config.horizon_days)
    calendar = model_calendar(first, ahead_last, holiday_calendar(first, ahead_last), weather)
    params = ForecastParams(seed=config.seed)
    index = seasonal.weekday_index(daily, config.measure, calendar.filter("is_holiday")["date"])
    ahead = forecast_ahead(daily, config.measure, calendar, config.horizon_days, params)
    metadata: dict = {}
    try:
        result = run_backtest(daily, config.measure, calendar, config.backtest_days, params=params)
    except ValueError as err:  # too little history: forecast anyway, say why there is no score
        context.log.warning(f"no backtest: {err}")
        metrics = pl.DataFrame(
            schema={
                "series": pl.String,
                "horizon": pl.Int64,
                "method": pl.String,
                "mase": pl.Float64,
                "wape": pl.Float64,
                "origins": pl.UInt32,
            }
        )
        metadata["backtest"] = f"not run: {err}"
    else:
        metrics = result.metrics
        metadata["backtest"] = dg.MetadataValue.md(backtest_markdown(result))
        metadata["interval_coverage"] = result.overall_coverage
        for row in result.summary().iter_rows(named=True):
            metadata[f"mase/{row['method']}/h{row['horizon']}"] = row["mase"]
    with warehouse.connect() as con:
        _write(con, "gold.demand_forecast", ahead.with_columns(measure=pl.lit(config.measure)))
        _write(con, "gold.demand_forecast_backtest", metrics)
        _write(con, "gold.demand_weekday_index", index)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": ahead.height,
            "measure": config.measure,
            "first_forecast_date": str(ahead["date"].min()),
            "weather_days": 0 if weather is None else weather.height,
            "forecast_chart": md.chart(
                forecast_chart(daily, ahead, config.measure), "Demand forecast per category"
            ),
            **metadata,
        }
    )


@dg.asset(
    key=DIPS_KEY,
    group_name="gold",
    kinds={"polars", "duckdb"},
    pool="duckdb",
    deps=[FORECAST_KEY, PREFERENCE_KEY],
)
def demand_dip_targets(config: DipConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    """One row per upcoming demand dip (a category's forecast below `threshold` of its usual
    day) and targeted customer: the customers with the highest preference index for that
    category. Campaign rules read it as dip_category / dip_date / dip_preference_index."""
    from dagster_project.lib.forecast.dips import demand_dips, dip_targets

    with warehouse.connect(read_only=True) as con:
        ahead = con.sql("select * from gold.demand_forecast").pl()
        preference = con.sql("select * from gold.customer_category_preference").pl()
    dips = demand_dips(ahead, config.threshold)
    targets = dip_targets(dips, preference, config.targets_per_dip)
    with warehouse.connect() as con:
        _write(con, "gold.demand_dip_targets", targets)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": targets.height,
            "dips": dips.height,
            "upcoming_dips": (
                md.table(
                    dips.select(
                        "category_l1",
                        "date",
                        pl.col("forecast").round(0),
                        pl.col("usual_level").round(0),
                        pl.col("dip_ratio").round(3),
                    )
                )
                if dips.height
                else "no dip in the forecast horizon"
            ),
        }
    )
