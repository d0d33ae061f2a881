"""Conversion tracking and attribution as assets: the conversion-tracking report, every
attribution model's credit (and, on a simulated world, its check against the truth), and
attributed ROAS/CAC per model side by side. Thin wrappers over dagster_project.lib.attribution."""

from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from dagster_project.defs import metadata as md
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.transform.assets import model_key
from dagster_project.lib.settings import Settings

# The foundation keys every asset by layer and groups it by its key's first part.
GROUP = "gold"
CREDIT_KEY = dg.AssetKey(["gold", "attribution_credit"])
# Models shown side by side in the UI's ROAS table: the old baseline, the path model the team
# moved to, and the one the budget should trust.
ROAS_MODELS = ("last_click", "markov_1", "incrementality")
# The credit chart's models: the old baseline, a path model, a game-theory one, and the one the
# budget should trust (all ten are in the table).
CHART_MODELS = ("last_click", "markov_1", "shapley", "incrementality")
CREDIT_CHECK = "credit_sums_to_conversions"
TRACKING_RATES = ("ctr", "cvr")


class AttributionConfig(dg.Config):
    lookback_days: float = 30.0
    """Touches this many days before a non-converting journey's end count (dbt's
    attribution_lookback_days sets it for converting ones)."""
    half_life_days: float = 7.0
    """Time-decay model's half-life."""
    markov_orders: list[int] = [1, 2, 3]
    """Markov chain orders to run."""


def _write(con, table: str, frame: pl.DataFrame) -> None:
    con.register("__frame", frame.to_arrow())
    con.execute(f"create or replace table {table} as select * from __frame")
    con.unregister("__frame")


@dg.asset(
    key=["gold", "conversion_tracking_report"],
    group_name=GROUP,
    kinds={"duckdb"},
    pool="duckdb",
    deps=[model_key("fct_conversion_tracking"), model_key("dim_campaigns")],
)
def conversion_tracking_report(warehouse: Warehouse) -> dg.MaterializeResult:
    """The conversion-tracking scale by business date, channel, campaign and creative:
    impressions, clicks, sends, sessions, sign-ups, installs, first and repeat orders, revenue
    and spend, with CTR, CVR, CPI, CAC and ROAS, and each campaign's parsed name. Campaign names
    that break the naming convention are listed with the reason."""
    from dagster_project.lib import charts
    from dagster_project.lib.attribution import tracking

    with warehouse.connect() as con:
        con.execute(
            "create or replace table gold.conversion_tracking_report as " + tracking.REPORT_SQL
        )
        rows = con.sql("select count(*) from gold.conversion_tracking_report").fetchone()[0]
        channels = tracking.summary(con, "channel")
        campaigns = tracking.summary(con, "campaign")
        malformed = tracking.malformed_campaign_names(con)
    spend = float(channels["spend_krw"].sum())
    revenue = float(channels["revenue_krw"].sum())
    paid_revenue = float(channels.filter(pl.col("spend_krw") > 0)["revenue_krw"].sum())
    by_revenue = channels.sort("revenue_krw", descending=True)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "by_channel": md.table(by_revenue, rates=TRACKING_RATES),
            "revenue_by_channel_chart": md.chart(
                charts.bars(by_revenue, "channel", "revenue_krw", "Revenue by channel", "KRW"),
                "Revenue by channel",
            ),
            "top_campaigns_by_spend": md.table(campaigns.head(15), rates=TRACKING_RATES),
            "malformed_campaign_names": md.table(malformed) if malformed.height else "none",
            "malformed_campaigns": malformed.height,
            "spend_krw": spend,
            "revenue_krw": revenue,
            "paid_channel_roas": paid_revenue / spend if spend else 0.0,
        }
    )


@dg.asset(
    key=CREDIT_KEY,
    group_name=GROUP,
    kinds={"duckdb", "lightgbm"},
    pool="duckdb",
    check_specs=[
        dg.AssetCheckSpec(
            CREDIT_CHECK,
            asset=CREDIT_KEY,
            description="Every model, in every scope, shares out exactly the converted "
            "journeys and their revenue (channels plus the baseline row), to 1e-6 relative.",
        )
    ],
    deps=[
        model_key("fct_touchpoint_journeys"),
        model_key("feat_customer__daily"),
        model_key("fct_campaign_sends"),
        model_key("int_events__cleaned"),
        model_key("int_orders__enriched"),
    ],
)
def attribution_credit(
    context: dg.AssetExecutionContext, config: AttributionConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Conversions and revenue credited per model, scope (first purchases, repeat purchases,
    all), channel and campaign, on the same journeys: last click, first click, linear, time
    decay, position-based, Markov orders 1-3 (exact removal effects), funnel-aware Markov,
    Shapley, and the incrementality-aware model (the one the budget should trust), whose
    no-marketing share is the (baseline) row; that model's credit by week, channel and scope
    is gold.attribution_credit_weekly (the lab check's credit="attribution"). On a simulated
    world, every model is checked against the true incremental orders in truth/."""
    from dagster_project.lib import charts
    from dagster_project.lib.attribution import report
    from dagster_project.lib.attribution.journeys import BASELINE
    from dagster_project.lib.attribution.warehouse import attribute_warehouse, read_truth
    from dagster_project.lib.attribution.weekly import WEEKLY_SCHEMA, weekly_credit

    settings = Settings.from_env()
    with warehouse.connect(read_only=True) as con:
        jr, run = attribute_warehouse(
            con,
            lookback_days=config.lookback_days,
            half_life_days=config.half_life_days,
            markov_orders=tuple(config.markov_orders),
            timezone=settings.business_timezone,
        )
    inc = run.incrementality
    weekly = (
        pl.DataFrame(schema=WEEKLY_SCHEMA)
        if inc is None
        else weekly_credit(jr, inc, settings.business_timezone)
    )
    with warehouse.connect() as con:
        _write(con, "gold.attribution_credit", run.credit)
        _write(con, "gold.attribution_removal_effects", run.removal_effects)
        # the lab check's credit="attribution" input; empty without the model
        _write(con, "gold.attribution_credit_weekly", weekly)
    matrix = report.channel_matrix(run.credit)
    models_shown = [m for m in matrix.columns if m != "channel"]
    removal = run.removal_effects.filter(pl.col("scope") == "all").pivot(
        on="model", index="channel", values="removal_effect"
    )
    metadata: dict[str, Any] = {
        "dagster/row_count": run.credit.height,
        "journeys": jr.journeys.height,
        "converted_journeys": int(jr.journeys["converted"].sum()),
        "touches": jr.touches.height,
        "conversions_by_channel_and_model": md.table(matrix, digits=dict.fromkeys(models_shown, 1)),
        "conversions_by_channel_chart": md.chart(
            charts.grouped_bars(
                matrix,
                "channel",
                [
                    m
                    for m in ("last_click", "markov_1", "shapley", "incrementality")
                    if m in matrix.columns
                ],
                "Conversions credited per channel, by attribution model",
                "conversions credited",
            ),
            "Conversions credited per channel, by attribution model",
        ),
        "removal_effects": md.table(removal, digits=dict.fromkeys(removal.columns, 3)),
        "seconds_per_model": md.table(
            pl.DataFrame({"model": list(run.seconds), "seconds": list(run.seconds.values())})
        ),
    }
    if inc is not None:
        baseline = matrix.filter(pl.col("channel") == BASELINE)["incrementality"]
        metadata |= {
            "incrementality_auc": inc.auc,
            "incrementality_baseline_conversions": float(baseline.sum()),
            "incrementality_marketing_conversions": float(
                matrix.filter(pl.col("channel") != BASELINE)["incrementality"].sum()
            ),
            "holdout_calibration": md.table(inc.calibration) if inc.calibration.height else "none",
        }
    truth = read_truth(Path(warehouse.raw_dir))
    if truth is not None:
        check = report.truth_check(run.credit, truth)
        metadata["truth_check"] = md.table(check, digits=dict.fromkeys(check.columns, 3))
        for row in check.iter_rows(named=True):
            for metric in ("spearman", "zero_effect_share", "max_share_error", "baseline_error"):
                metadata[f"{metric}/{row['model']}"] = row[metric]
    sums = report.credit_reconciliation(run.credit, jr.journeys)
    off = sums.filter(~pl.col("reconciled"))
    context.log.info("notes: %s", "; ".join(run.notes) or "none")
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name=CREDIT_CHECK,
                passed=off.is_empty() and sums.height > 0,
                metadata={
                    "models_and_scopes": sums.height,
                    "off": off.height,
                    "reconciliation": md.table(off if off.height else sums.head(12)),
                },
            )
        ],
    )


ROAS_KEY = dg.AssetKey(["gold", "attributed_roas"])


@dg.asset(
    key=ROAS_KEY,
    group_name=GROUP,
    kinds={"duckdb"},
    pool="duckdb",
    deps=[CREDIT_KEY, model_key("fct_conversion_tracking")],
)
def attributed_roas(warehouse: Warehouse) -> dg.MaterializeResult:
    """Attributed conversions and revenue per model, scope, channel and campaign, joined with
    spend: cost per conversion, CAC (spend per first purchase) and ROAS, every model side by
    side. Every model carries every campaign's spend (ROAS 0 where it credits nothing), so
    channel ROAS is over all of the channel's spend."""
    from dagster_project.lib import charts
    from dagster_project.lib.attribution import report
    from dagster_project.lib.attribution.warehouse import campaign_spend

    with warehouse.connect() as con:
        credit = con.sql("select * from gold.attribution_credit").pl()
        roas = report.attributed_roas(credit, campaign_spend(con))
        _write(con, "gold.attributed_roas", roas)
    per_channel = report.roas_by_channel(roas).filter(
        pl.col("model").is_in(ROAS_MODELS) & pl.col("roas").is_not_null()
    )

    def side_by_side(value: str) -> pl.DataFrame:
        return per_channel.pivot(on="model", index="channel", values=value).sort("channel")

    roas_wide = side_by_side("roas")
    shown = [m for m in ROAS_MODELS if m in roas_wide.columns]
    metadata: dict[str, Any] = {
        "dagster/row_count": roas.height,
        "roas_by_channel": md.table(roas_wide, digits=dict.fromkeys(shown, 2)),
        "roas_by_channel_chart": md.chart(
            charts.grouped_bars(
                roas_wide, "channel", shown, "ROAS by channel (revenue per won spent)", "ROAS"
            ),
            "ROAS by channel",
        ),
        "cac_krw_by_channel": md.table(side_by_side("cac_krw"), money=shown),
    }
    for row in per_channel.iter_rows(named=True):
        metadata[f"roas/{row['model']}/{row['channel']}"] = float(row["roas"])
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(
    asset=ROAS_KEY,
    blocking=True,
    pool="duckdb",
    additional_deps=[model_key("stg_raw__marketing_spend")],
)
def roas_spend_reconciles(warehouse: Warehouse) -> dg.AssetCheckResult:
    """Every model and scope in gold.attributed_roas carries the whole period's spend: its spend
    adds up to the spend in marketing_spend (bronze), to the hundredth of a won."""
    from dagster_project.lib.attribution import report

    with warehouse.connect(read_only=True) as con:
        roas = con.sql("select model, scope, spend_krw from gold.attributed_roas").pl()
        total = con.sql(
            "select coalesce(sum(spend), 0) from bronze.stg_raw__marketing_spend"
        ).fetchone()[0]
    rec = report.spend_reconciliation(roas, total)
    off = rec.filter(~pl.col("reconciled"))
    return dg.AssetCheckResult(
        # No table rows at all is only right when there was no spend either.
        passed=off.is_empty() and (rec.height > 0 or total == 0),
        metadata={
            "marketing_spend_krw": float(total),
            "models_and_scopes": rec.height,
            "off": off.height,
            "largest_difference_krw": float(rec["difference_krw"].abs().max() or 0.0),
            "reconciliation": md.table(rec, money=["spend_krw", "marketing_spend_krw"]),
        },
    )
