"""The paid channels' exposure-level measurement, the response curves fitted on it and the budget
plan as assets: thin wrappers over dagster_project.lib.budget and lib.attribution.exposure_lift.
On data without spend (an orders-only export) all three say so and write nothing; channels with
spend but no journeys are named in the metadata."""

from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from dagster_project.defs import metadata as md
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.transform.assets import model_key
from dagster_project.lib.settings import Settings

GROUP = "gold"
LIFT_KEY = dg.AssetKey(["gold", "paid_exposure_lift"])
CURVES_KEY = dg.AssetKey(["gold", "response_curves"])
PLAN_KEY = dg.AssetKey(["gold", "budget_plan"])
LIFT_TABLES = ("gold.paid_exposure_lift", "gold.paid_exposure_lift_channels")
CURVE_TABLES = ("gold.response_curves", "gold.response_curve_params")
PLAN_TABLES = ("gold.budget_plan", "gold.budget_plan_channels", "gold.budget_plan_scenarios")


class BudgetPlanConfig(dg.Config):
    budget_krw: float = 0.0
    """Total budget for the planned weeks (KRW); 0 = the current weekly spend x weeks."""
    weeks: int = 4
    """Weeks planned (and forecast) from the Monday after the data."""
    objective: str = "revenue"
    """revenue, profit (gross margin x incremental revenue - spend) or cac (acquisitions)."""
    bounds_file: str = ""
    """YAML of per-channel weekly bounds (docs/budget.md); empty = 0 to 2x the largest week."""
    gross_margin: float = 0.35
    """Share of incremental revenue kept as profit (profit objective and the profit column)."""


def _write(con, table: str, frame: pl.DataFrame) -> None:
    con.register("__frame", frame.to_arrow())
    con.execute(f"create or replace table {table} as select * from __frame")
    con.unregister("__frame")


def _rounded(frame: pl.DataFrame, digits: int = 2) -> pl.DataFrame:
    return frame.with_columns(pl.selectors.float().round(digits))


def _inputs(warehouse: Warehouse):
    from dagster_project.lib.budget import curves

    with warehouse.connect(read_only=True) as con:
        return curves.warehouse_inputs(con)


def _skip(context, warehouse: Warehouse, tables, reason: str, inputs) -> dg.MaterializeResult:
    context.log.warning(f"skipped: {reason}")
    with warehouse.connect() as con:
        for table in tables:
            con.execute(f"drop table if exists {table}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": 0,
            "skipped": reason,
            "channels_with_spend": ", ".join(inputs.spend_channels) or "none",
            "channels_without_journeys": ", ".join(inputs.without_journeys) or "none",
        }
    )


def _charts_dir() -> Path:
    return Settings.from_env().data_dir / "budget"


@dg.asset(
    key=LIFT_KEY,
    group_name=GROUP,
    kinds={"duckdb", "lightgbm"},
    pool="duckdb",
    deps=[
        model_key("fct_conversion_tracking"),
        model_key("fct_touchpoint_journeys"),
        model_key("int_sessions__attributed"),
        model_key("int_events__cleaned"),
        model_key("int_orders__enriched"),
        model_key("int_touches__conformed"),
        model_key("dim_customers"),
    ],
)
def paid_exposure_lift(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Per paid channel and business week, the incremental orders and revenue of its
    impressions, with standard errors: the exposure log's natural experiment
    (lib/attribution/exposure_lift.py; an outcome model fitted on the customer-days the channel
    did not reach, each reached customer-day's orders in the next 7 days minus its prediction).
    The response curves' input, the same function the lab check fits on. A week's standard
    error is the channel's lift's, so the weeks' errors move together.
    gold.paid_exposure_lift: one row per week, channel and scope (all, first);
    gold.paid_exposure_lift_channels: one row per channel (the whole period, 95 % interval)."""
    from dagster_project.lib.attribution.exposure_lift import warehouse_exposure_lift
    from dagster_project.lib.budget import curves

    with warehouse.connect(read_only=True) as con:
        coverage = curves.spend_coverage(con)
        measured = None if coverage.reason else warehouse_exposure_lift(con)
    if measured is None:
        return _skip(context, warehouse, LIFT_TABLES, coverage.reason, coverage)
    if measured.summary.is_empty():
        reason = "no paid impressions in the touches: nothing to measure the paid channels on"
        return _skip(context, warehouse, LIFT_TABLES, reason, coverage)
    with warehouse.connect() as con:
        _write(con, "gold.paid_exposure_lift", measured.weekly)
        _write(con, "gold.paid_exposure_lift_channels", measured.summary)
    summary = measured.summary
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": measured.weekly.height,
            "method": "exposure_lift (lib/attribution/exposure_lift.py)",
            "channels_measured": summary.height,
            "weeks": measured.weekly["week_start"].n_unique(),
            "channels_without_journeys": ", ".join(coverage.without_journeys) or "none",
            "channels": md.table(_rounded(summary, 3)),
        }
    )


@dg.asset(
    key=CURVES_KEY,
    group_name=GROUP,
    kinds={"duckdb", "scipy"},
    pool="duckdb",
    deps=[LIFT_KEY, model_key("fct_conversion_tracking"), model_key("fct_touchpoint_journeys")],
)
def response_curves(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Per paid channel, weekly spend -> incremental orders and revenue: geometric adstock +
    Hill saturation fitted by penalized maximum likelihood on the weeks' spend and the paid
    channels' exposure-level measurement (gold/paid_exposure_lift, as the lab check), with
    90 % intervals from a Laplace approximation. gold.response_curves: one row per channel and
    weekly spend on a grid; gold.response_curve_params: one row per channel. On a simulated
    world the fit is checked against the planted curves in truth/."""
    from dagster_project.lib.budget import curves, plots

    inputs = _inputs(warehouse)
    if inputs.reason:
        return _skip(context, warehouse, CURVE_TABLES, inputs.reason, inputs)
    rc = curves.fit_curves(inputs.weekly)
    with warehouse.connect(read_only=True) as con:
        campaigns = curves.campaign_coverage(con, rc.channels)
    if not rc.curves:
        reason = "no channel could be fitted: " + "; ".join(
            f"{ch}: {why}" for ch, why in rc.skipped.items()
        )
        return _skip(context, warehouse, CURVE_TABLES, reason, inputs)
    table = curves.curve_table(rc)
    params = curves.params_table(rc)
    with warehouse.connect() as con:
        _write(con, "gold.response_curves", table)
        _write(con, "gold.response_curve_params", params)
    charts = plots.curve_charts(
        table, {ch: c.current_spend for ch, c in rc.curves.items()}, None, _charts_dir()
    )
    metadata: dict[str, Any] = {
        "dagster/row_count": table.height,
        "channels_fitted": len(rc.curves),
        "curve_input": curves.WEEKLY_CREDIT_TABLE,
        "weeks": inputs.weekly["week_start"].n_unique(),
        # the curves are at the current audience: its size over the fitted weeks' mean
        "audience_growth": round(rc.audience_growth, 3),
        "channels_without_journeys": ", ".join(inputs.without_journeys) or "none",
        "channels_not_fitted": ", ".join(f"{k} ({v})" for k, v in rc.skipped.items()) or "none",
        "params": md.table(_rounded(params, 3)),
        "campaign_curves": md.table(_rounded(campaigns, 2)) if campaigns.height else "none",
        "campaigns_on_channel_curve": int(campaigns["curve"].str.starts_with("channel").sum()),
        "curves": md.chart(charts["all"].read_bytes(), "response curves"),
        "charts_dir": dg.MetadataValue.path(str(charts["all"].parent)),
    }
    for row in params.iter_rows(named=True):
        metadata[f"marginal_roas/{row['channel']}"] = float(row["marginal_roas_at_current"])
    truth = curves.read_truth_curves(Path(warehouse.raw_dir))
    if truth is not None:
        check = curves.recovery(rc, truth)
        metadata["truth_recovery"] = md.table(_rounded(check, 3))
        metadata["max_orders_error"] = float(check["orders_error"].abs().max())
        metadata["marginal_roas_rank_right"] = bool(
            (check["fitted_rank"] == check["true_rank"]).all()
        )
    planted = curves.params_against_truth(rc, Path(warehouse.raw_dir))
    if planted is not None:
        metadata["truth_params"] = md.table(_rounded(planted, 3))
    return dg.MaterializeResult(metadata=metadata)


PLAN_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("channel", "string"),
        dg.TableColumn("current_weekly_krw", "float", description="mean of the last 13 weeks"),
        dg.TableColumn("recommended_weekly_krw", "float"),
        dg.TableColumn("change", "float", description="recommended / current - 1"),
        dg.TableColumn("marginal_roas", "float", description="revenue of the next KRW"),
        dg.TableColumn("revenue_krw", "float", description="forecast over the planned weeks"),
        dg.TableColumn("revenue_krw_low", "float", description="90 % interval"),
        dg.TableColumn("revenue_krw_high", "float", description="90 % interval"),
        dg.TableColumn("bound", "string", description="min or max when a bound holds it"),
    ]
)


@dg.asset(
    key=PLAN_KEY, group_name=GROUP, kinds={"duckdb", "scipy"}, pool="duckdb", deps=[CURVES_KEY]
)
def budget_plan(context: dg.AssetExecutionContext, config: BudgetPlanConfig, warehouse: Warehouse):
    """The next weeks' spend per paid channel that maximizes incremental revenue (or profit,
    or acquisitions) for the budget, within the team's bounds: marginal ROAS equal across the
    channels no bound holds; the forecast with its 90 % interval; scenarios (current split,
    budget -20 % and +20 %, each channel switched off). gold.budget_plan: one row per channel
    and week (the policy lab's plan format); gold.budget_plan_channels, per channel;
    gold.budget_plan_scenarios, per scenario."""
    from dagster_project.lib.budget import allocate, curves, plots

    inputs = _inputs(warehouse)
    if inputs.reason:
        return _skip(context, warehouse, PLAN_TABLES, inputs.reason, inputs)
    rc = curves.fit_curves(inputs.weekly)
    if not rc.curves:
        return _skip(context, warehouse, PLAN_TABLES, "no channel could be fitted", inputs)
    bounds = allocate.load_bounds(Path(config.bounds_file), rc) if config.bounds_file else None
    budget = config.budget_krw or config.weeks * sum(c.current_spend for c in rc.curves.values())
    result = allocate.plan_budget(
        rc, budget, config.weeks, bounds, config.objective, config.gross_margin
    )
    with warehouse.connect() as con:
        _write(con, "gold.budget_plan", result.plan)
        _write(con, "gold.budget_plan_channels", result.table)
        _write(con, "gold.budget_plan_scenarios", result.scenarios)
    charts = plots.curve_charts(
        curves.curve_table(rc, {ch: h for ch, (_, h) in (bounds or {}).items()}),
        {ch: c.current_spend for ch, c in rc.curves.items()},
        result.allocation.spend,
        _charts_dir() / "plan",
    )
    shown = [c.name for c in PLAN_SCHEMA.columns]
    records = [
        dg.TableRecord({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
        for row in result.table.select(shown).fill_null(0.0).iter_rows(named=True)
    ]
    total = result.scenarios.filter(pl.col("scenario") == "recommended").row(0, named=True)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.plan.height,
            "objective": config.objective,
            "budget_krw": float(budget),
            "weeks": config.weeks,
            "plan": dg.MetadataValue.table(records, PLAN_SCHEMA),
            "scenarios": md.table(_rounded(result.scenarios, 1)),
            "forecast_revenue_krw": float(total["revenue_krw"]),
            "forecast_revenue_krw_low": float(total["revenue_krw_low"]),
            "forecast_revenue_krw_high": float(total["revenue_krw_high"]),
            "channels_without_journeys": ", ".join(inputs.without_journeys) or "none",
            "curves": md.chart(charts["all"].read_bytes(), "response curves"),
            "charts_dir": dg.MetadataValue.path(str(charts["all"].parent)),
        }
    )
