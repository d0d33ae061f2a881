"""Uplift: the treatment vs holdout report of executed campaigns, and the coupon uplift model's
held-out evaluation and scores."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from dagster_project.defs import metadata as md
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.transform.assets import model_key

REPORT_KEY = dg.AssetKey(["gold", "campaign_uplift"])
SCORES_KEY = dg.AssetKey(["gold", "coupon_uplift_scores"])
EVALUATION_KEY = dg.AssetKey(["gold", "coupon_uplift_evaluation"])
COMPLETE_CHECK = "every_measurable_campaign_reported"


class UpliftReportConfig(dg.Config):
    alpha: float = 0.05
    """Chance of any wrong effective / harmful / no-effect verdict in the report (the intervals
    are simultaneous over its campaigns)."""
    band: float = 0.01
    """Practical-equivalence band on conversion: an effect within +-band (0.01 = one
    percentage point) is no effect worth a message."""
    power: float = 0.8
    """Power of the minimum detectable effect and of the holdout size needed."""


def _write(con, name: str, frame: pl.DataFrame) -> None:
    con.register("frame", frame)
    con.execute(f"create or replace table gold.{name} as select * from frame")
    con.unregister("frame")


def _table(frame: pl.DataFrame) -> dg.MetadataValue:
    from dagster_project.lib.uplift.measure import RATE_COLUMNS

    return md.table(frame, rates=[c for c in RATE_COLUMNS if c in frame.columns])


def _digits(frame: pl.DataFrame) -> dict[str, int]:
    return dict.fromkeys(frame.columns, 4)


@dg.asset(
    key=REPORT_KEY,
    group_name="gold",
    kinds={"polars", "duckdb"},
    pool="duckdb",
    deps=[model_key("fct_campaign_sends"), model_key("dim_campaigns")],
    check_specs=[
        dg.AssetCheckSpec(
            COMPLETE_CHECK,
            asset=REPORT_KEY,
            description="Every campaign with complete-window sends in both arms (treatment and "
            "holdout) has a row in the report, with a verdict.",
        )
    ],
)
def campaign_uplift(
    context: dg.AssetExecutionContext, config: UpliftReportConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """One row per executed campaign with a holdout: conversion and revenue per customer in
    treatment vs holdout over the response window, difference and ratio with confidence
    intervals, the simultaneous interval its verdict reads (effective, harmful, no_effect,
    inconclusive), MDE, the holdout size needed, and the pooled (shrunken) estimate."""
    from dagster_project.lib import charts
    from dagster_project.lib.uplift import measure

    rule = measure.VerdictRule(alpha=config.alpha, band=config.band, power=config.power)
    with warehouse.connect(read_only=True) as con:
        sends = con.sql(
            "select campaign_id, is_treatment, is_converted, revenue_krw"
            " from gold.fct_campaign_sends where is_window_complete"
        ).pl()
        campaigns = con.sql(
            "select campaign_id, campaign_name, channel, objective, has_coupon, start_date"
            " from gold.dim_campaigns"
        ).pl()
    groups, report = measure.pooled_uplift(
        measure.measure_uplift(sends, campaigns, rule), rule=rule
    )
    with warehouse.connect() as con:
        _write(con, "campaign_uplift", report)
    stop = measure.campaigns_to_stop(report)
    verdicts = {v: int((report["verdict"] == v).sum()) for v in measure.VERDICTS}
    context.log.info(f"verdicts: {verdicts}")
    measurable = set(
        sends.group_by("campaign_id")
        .agg(pl.col("is_treatment").any().alias("t"), (~pl.col("is_treatment")).any().alias("h"))
        .filter(pl.col("t") & pl.col("h"))["campaign_id"]
    )
    reported = set(report.filter(pl.col("verdict").is_not_null())["campaign_id"])
    missing = sorted(measurable - reported)
    metadata = {
        "dagster/row_count": report.height,
        **{f"verdicts/{k}": v for k, v in verdicts.items()},
        "band": config.band,
        "incremental_conversions": float(
            report.filter(pl.col("verdict") == "effective")["incremental_conversions"].sum()
        ),
        "report": _table(report.select(measure.REPORT_COLUMNS)),
        "pooled": _table(groups) if groups.height else "none",
        "campaigns_to_stop": _table(stop.select(measure.REPORT_COLUMNS)) if stop.height else "none",
    }
    if report.height:
        metadata["uplift_intervals_chart"] = md.chart(
            charts.intervals(
                report.sort("conversion_diff", descending=True),
                "campaign_id",
                "conversion_diff",
                "conversion_sim_low",
                "conversion_sim_high",
                "Conversion uplift per campaign, simultaneous intervals",
                "uplift in conversion rate (percentage points)",
                colour_by="verdict",
            ),
            "Conversion uplift per campaign",
        )
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name=COMPLETE_CHECK,
                passed=not missing,
                metadata={
                    "measurable_campaigns": len(measurable),
                    "reported": len(reported & measurable),
                    "missing": ", ".join(missing) or "none",
                },
            )
        ],
    )


class CouponUpliftConfig(dg.Config):
    num_boost_round: int = 150
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 40
    seed: int = 7


UPLIFT_MODEL_DEPS = [
    model_key("fct_campaign_sends"),
    model_key("dim_campaigns"),
    model_key("feat_customer__daily"),
]


QINI_CHECK = "qini_above_random"


def _qini_check(passed: bool, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=EVALUATION_KEY, check_name=QINI_CHECK, passed=passed, metadata=metadata
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SCORES_KEY,
            description="One row per customer: P(convert | coupon), P(convert | no coupon) and "
            "their difference, the coupon uplift, from the two-model learner. Written only when "
            "the model's held-out Qini is above random (check qini_above_random); otherwise "
            "dropped, so campaign rules cannot target by a model that does not work.",
            deps=UPLIFT_MODEL_DEPS,
            group_name="gold",
            kinds={"lightgbm", "duckdb"},
            skippable=True,
        ),
        dg.AssetSpec(
            EVALUATION_KEY,
            description="One row per targeting strategy (uplift model, purchase probability, "
            "random): Qini and uplift at 10/20/30/50 % on held-out coupon campaigns.",
            deps=UPLIFT_MODEL_DEPS,
            group_name="gold",
            kinds={"lightgbm", "duckdb"},
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            QINI_CHECK,
            asset=EVALUATION_KEY,
            description="The uplift model's Qini on held-out coupon campaigns is above the 95th "
            "percentile of random orderings; only then are its scores offered to campaign rules.",
        )
    ],
    pool="duckdb",
)
def coupon_uplift_scores(
    context: dg.AssetExecutionContext, config: CouponUpliftConfig, warehouse: Warehouse
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Two-model LightGBM uplift learner over past coupon campaigns: leave-one-campaign-out Qini
    and uplift-at-k against random targeting and purchase probability alone; when its Qini is
    above random, a model on every coupon campaign scores each customer's newest features: who
    buys because of a coupon."""
    from dagster_project.lib.uplift import model as m

    params = m.UpliftParams(
        num_boost_round=config.num_boost_round,
        learning_rate=config.learning_rate,
        num_leaves=config.num_leaves,
        min_data_in_leaf=config.min_data_in_leaf,
        seed=config.seed,
    )
    with warehouse.connect(read_only=True) as con:
        rows = m.coupon_training_rows(con)
        current = m.latest_features(con)

    def no_model(reason: str, **metadata):
        context.log.warning(f"no coupon uplift model: {reason}")
        with warehouse.connect() as con:
            con.execute("drop table if exists gold.coupon_uplift_scores")
        yield dg.MaterializeResult(
            asset_key=EVALUATION_KEY, metadata={"dagster/row_count": 0, **metadata}
        )
        yield _qini_check(False, reason=reason)

    n_campaigns = rows["campaign_id"].n_unique()
    if n_campaigns < 2:
        yield from no_model(
            f"{n_campaigns} coupon campaign(s) with complete windows", coupon_campaigns=n_campaigns
        )
        return
    try:
        evaluation = m.evaluate_leave_one_campaign_out(rows, params)
    except ValueError as e:  # e.g. an arm without a single conversion in a small world
        yield from no_model(str(e), skipped=str(e))
        return
    import numpy as np

    summary = evaluation.summary
    qini = dict(zip(summary["strategy"], summary["qini"], strict=True))
    random_p95 = float(np.percentile(evaluation.random_qinis, 95))
    passed = qini["uplift_model"] > random_p95
    with warehouse.connect() as con:
        _write(con, "coupon_uplift_evaluation", summary)
    yield dg.MaterializeResult(
        asset_key=EVALUATION_KEY,
        metadata={
            "dagster/row_count": summary.height,
            "coupon_campaigns": n_campaigns,
            "training_rows": rows.height,
            **{f"qini/{k}": float(v) for k, v in qini.items()},
            "qini/random_p95": random_p95,
            **{
                f"{col}/{s}": float(v)
                for col in summary.columns
                if col.startswith("uplift_at_")
                for s, v in zip(summary["strategy"], summary[col], strict=True)
                if v is not None
            },
            "evaluation": md.table(summary, digits=_digits(summary)),
            "per_campaign": md.table(
                evaluation.per_campaign, digits=_digits(evaluation.per_campaign)
            ),
        },
    )
    yield _qini_check(passed, qini=float(qini["uplift_model"]), random_p95=random_p95)
    if not passed:
        context.log.warning(
            f"coupon uplift model's held-out Qini {qini['uplift_model']:.4f} is not above random "
            f"(p95 {random_p95:.4f}): its scores are withheld from campaign rules"
        )
        with warehouse.connect() as con:
            con.execute("drop table if exists gold.coupon_uplift_scores")
        return
    model = m.fit_two_model(rows, params)
    scores = pl.concat([current.select("customer_id"), model.predict(current)], how="horizontal")
    scores = scores.with_columns(
        uplift_decile=(1 + (pl.col("uplift").rank("min") - 1) * 10 // pl.len()).cast(pl.Int8),
        model_version=pl.lit(f"two_model_lgbm_seed{config.seed}"),
    )
    with warehouse.connect() as con:
        _write(con, "coupon_uplift_scores", scores)
    yield dg.MaterializeResult(
        asset_key=SCORES_KEY,
        metadata={
            "dagster/row_count": scores.height,
            "uplift_deciles": md.table(
                scores.group_by("uplift_decile")
                .agg(customers=pl.len(), mean_uplift=pl.col("uplift").mean())
                .sort("uplift_decile", descending=True),
                rates=["mean_uplift"],
            ),
        },
    )
