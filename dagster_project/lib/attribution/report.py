"""Every model on the same journeys, per scope (first purchases, repeat purchases, all), and the
tables built from the credit: attributed ROAS/CAC per model side by side, and the check of each
model's channel credit against the simulator's truth."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy.stats import spearmanr

from dagster_project.lib.attribution import incrementality, models
from dagster_project.lib.attribution.journeys import BASELINE, SCOPES, Journeys

INCREMENTALITY = "incrementality"
RULE_MODELS = ("last_click", "first_click", "linear", "time_decay", "position_based")


@dataclass
class AttributionRun:
    credit: pl.DataFrame  # model, scope, channel, campaign_id, conversions, revenue
    removal_effects: pl.DataFrame  # model, scope, channel, removal_effect
    seconds: dict[str, float] = field(default_factory=dict)
    incrementality: incrementality.IncrementalityResult | None = None
    notes: list[str] = field(default_factory=list)


def model_names(markov_orders: tuple[int, ...] = (1, 2, 3)) -> list[str]:
    return [
        *RULE_MODELS,
        *(f"markov_{k}" for k in markov_orders),
        "funnel_markov",
        "shapley",
        INCREMENTALITY,
    ]


def run_all(
    jr: Journeys,
    *,
    half_life_days: float = 7.0,
    markov_orders: tuple[int, ...] = (1, 2, 3),
    customer_features: incrementality.FeatureLookup | None = None,
    holdout_lift: pl.DataFrame | None = None,
    config: incrementality.IncrementalityConfig | None = None,
    with_incrementality: bool = True,
    progress: Callable[[str], None] | None = None,
) -> AttributionRun:
    """Every standard model per scope (fitted on that scope's journeys), and the
    incrementality-aware model (fitted once on all journeys, its credit reported per scope)."""
    parts, effects, seconds, notes = [], [], {}, []
    scopes = [s for s in SCOPES if s == "all" or jr.journeys["scope"].eq(s).any()]

    def timed(name: str, fn):
        start = time.perf_counter()
        out = fn()
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
        return out

    for scope in scopes:
        sub = jr.scoped(scope)
        if progress:
            progress(f"standard models, scope {scope}")
        rule = {
            "last_click": lambda s=sub: models.last_click(s),
            "first_click": lambda s=sub: models.first_click(s),
            "linear": lambda s=sub: models.linear(s),
            "time_decay": lambda s=sub: models.time_decay(s, half_life_days),
            "position_based": lambda s=sub: models.position_based(s),
        }
        for name, fn in rule.items():
            parts.append(models.credit(sub, timed(name, fn), name, scope))
        for k in markov_orders:
            name = f"markov_{k}"
            weights, result = timed(name, lambda s=sub, k=k: models.markov(s, k))
            parts.append(models.credit(sub, weights, name, scope))
            effects.append(_effects(name, scope, sub.channels, result.removal_effects))
        funnel = timed("funnel_markov", lambda s=sub: models.funnel_markov(s))
        if funnel is None:
            if scope == "all":
                notes.append("funnel_markov skipped: the touches have no funnel_stage")
        else:
            parts.append(models.credit(sub, funnel[0], "funnel_markov", scope))
            effects.append(
                _effects("funnel_markov", scope, sub.channels, funnel[1].removal_effects)
            )
        weights, _ = timed("shapley", lambda s=sub: models.shapley(s))
        parts.append(models.credit(sub, weights, "shapley", scope))

    inc_result = None
    converted = jr.journeys["converted"]
    if with_incrementality and (jr.touches.is_empty() or converted.all() or not converted.any()):
        # e.g. an orders-only export: no touches, every journey an order
        notes.append(
            "incrementality model skipped: it needs touches and both converting and"
            " non-converting journeys"
        )
    elif with_incrementality:
        if progress:
            progress("incrementality model")
        inc_result = timed(
            INCREMENTALITY, lambda: incrementality.attribute(jr, customer_features, config)
        )
        if holdout_lift is not None and not holdout_lift.is_empty():
            inc_result = incrementality.calibrate(jr, inc_result, holdout_lift)
        for scope in scopes:
            mask = (
                np.ones(jr.journeys.height, dtype=bool)
                if scope == "all"
                else jr.journeys["scope"].eq(scope).fill_null(False).to_numpy()
            )
            parts.append(
                models.credit(
                    jr, inc_result.weights, INCREMENTALITY, scope, mask, inc_result.carryover
                )
            )
    credit = pl.concat(parts)
    removal = pl.concat(effects) if effects else pl.DataFrame()
    return AttributionRun(credit, removal, seconds, inc_result, notes)


def _effects(model: str, scope: str, channels: tuple[str, ...], values) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "model": model,
            "scope": scope,
            "channel": list(channels),
            "removal_effect": np.asarray(values, dtype=np.float64),
        }
    )


def by_channel(credit: pl.DataFrame, scope: str = "all") -> pl.DataFrame:
    """model x channel conversions and revenue for one scope."""
    return (
        credit.filter(pl.col("scope") == scope)
        .group_by("model", "channel")
        .agg(pl.col("conversions").sum(), pl.col("revenue").sum())
        .sort("model", "channel")
    )


def channel_matrix(credit: pl.DataFrame, scope: str = "all", value: str = "conversions"):
    """Channels as rows, models as columns (for reading side by side)."""
    order = [m for m in model_names() if m in credit["model"].unique().to_list()]
    wide = by_channel(credit, scope).pivot(on="model", index="channel", values=value)
    return wide.select("channel", *[m for m in order if m in wide.columns]).sort("channel")


def truth_check(credit: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Per model (scope all), against the true incremental orders (truth: channel,
    incremental_orders, is_zero_effect, optional baseline_orders = the no-marketing world's):
    Spearman rank correlation of the channels' credited conversions with them; the share of the
    marketing-driven credit (baseline excluded; negative credit counts as 0) given to zero-effect
    channels; the largest gap between a channel's credit share and its true share (true effects
    below zero count as 0); the most negative credit of any channel; and the baseline's error
    relative to the true no-marketing orders."""
    t = truth.select("channel", "incremental_orders", "is_zero_effect")
    true_positive = t["incremental_orders"].clip(lower_bound=0).cast(pl.Float64)
    true_share = true_positive / max(float(true_positive.sum()), 1e-12)
    rows = []
    for model, part in (
        by_channel(credit)
        .filter(pl.col("channel") != BASELINE)
        .group_by("model", maintain_order=True)
    ):
        g = t.join(part.select("channel", "conversions"), on="channel", how="left").with_columns(
            pl.col("conversions").fill_null(0.0)
        )
        rho = spearmanr(g["conversions"], g["incremental_orders"]).statistic
        positive = g["conversions"].clip(lower_bound=0)
        total = max(float(positive.sum()), 1e-12)
        zero = float(positive.filter(g["is_zero_effect"]).sum() / total)
        rows.append(
            {
                "model": model[0],
                "spearman": float(rho),
                "zero_effect_share": zero,
                "max_share_error": float((positive / total - true_share).abs().max()),
                "min_channel_credit": float(g["conversions"].min()),
                "marketing_conversions": float(g["conversions"].sum()),
            }
        )
    baseline = (
        by_channel(credit)
        .filter(pl.col("channel") == BASELINE)
        .select("model", baseline_conversions="conversions")
    )
    order = {m: i for i, m in enumerate(model_names())}
    out = (
        pl.DataFrame(rows)
        .join(baseline, on="model", how="left")
        .with_columns(pl.col("baseline_conversions").fill_null(0.0))
        .sort(pl.col("model").replace_strict(order, default=99, return_dtype=pl.Int32))
    )
    if "baseline_orders" in truth.columns:
        true_base = float(truth["baseline_orders"][0])
        out = out.with_columns(
            baseline_error=(pl.col("baseline_conversions") - true_base) / true_base
        )
    return out


def attributed_roas(credit: pl.DataFrame, spend: pl.DataFrame) -> pl.DataFrame:
    """Per model, scope, channel and campaign: attributed conversions and revenue with spend
    (spend: channel, campaign_id, spend_krw), CAC (spend per first-purchase conversion, from the
    'first' scope), cost per conversion and ROAS (revenue / spend).

    Every model and scope carries every spend row, credited or not (a campaign a model gives
    nothing has ROAS 0, not a missing row), so each model's spend adds up to the same total and
    channel ROAS is over all of the channel's spend. Credit without spend stays too (spend 0,
    ROAS and CAC null)."""
    keys = ["channel", "campaign_id"]
    spend = spend.group_by(keys).agg(pl.col("spend_krw").sum())
    per = (
        credit.filter(pl.col("channel") != BASELINE)
        .group_by("model", "scope", *keys)
        .agg(pl.col("conversions", "revenue").sum())
    )
    # Every (model, scope) the credit has, baseline-only ones included, times every spend row.
    spend_grid = credit.select("model", "scope").unique().join(spend, how="cross")
    first = per.filter(pl.col("scope") == "first").select(
        "model", *keys, first_conversions="conversions"
    )
    out = (
        per.join(
            spend_grid, on=["model", "scope", *keys], how="full", coalesce=True, nulls_equal=True
        )
        .join(first, on=["model", *keys], how="left", nulls_equal=True)
        .with_columns(
            pl.col("conversions", "revenue", "spend_krw", "first_conversions").fill_null(0.0)
        )
        .with_columns(
            cost_per_conversion_krw=_ratio("spend_krw", "conversions"),
            cac_krw=_ratio("spend_krw", "first_conversions"),
            roas=_ratio("revenue", "spend_krw"),
        )
    )
    return out.sort("model", "scope", "channel", "campaign_id", nulls_last=True)


def roas_by_channel(roas: pl.DataFrame, scope: str = "all") -> pl.DataFrame:
    """Per model and channel (one scope): conversions, revenue and spend summed over all of the
    channel's campaigns, credited or not; ROAS = revenue / spend and CAC = spend / first-purchase
    conversions (null when the denominator is 0)."""
    return (
        roas.filter(pl.col("scope") == scope)
        .group_by("model", "channel")
        .agg(pl.col("conversions", "revenue", "spend_krw", "first_conversions").sum())
        .with_columns(
            cac_krw=_ratio("spend_krw", "first_conversions"), roas=_ratio("revenue", "spend_krw")
        )
        .sort("model", "channel")
    )


# Spend sums are floats; a dropped campaign is off by far more than a hundredth of a won.
SPEND_TOLERANCE_KRW = 0.01


def spend_reconciliation(roas: pl.DataFrame, spend_total_krw: float) -> pl.DataFrame:
    """Per model and scope: the spend in the ROAS table against the period's total spend (from
    marketing_spend), the difference, and whether it is within SPEND_TOLERANCE_KRW."""
    return (
        roas.group_by("model", "scope")
        .agg(spend_krw=pl.col("spend_krw").sum())
        .with_columns(
            marketing_spend_krw=pl.lit(float(spend_total_krw)),
            difference_krw=pl.col("spend_krw") - float(spend_total_krw),
        )
        .with_columns(reconciled=pl.col("difference_krw").abs() <= SPEND_TOLERANCE_KRW)
        .sort("model", "scope")
    )


# Credit is fractional: summed over tens of thousands of journeys, float error stays far below.
CREDIT_TOLERANCE = 1e-6


def credit_reconciliation(credit: pl.DataFrame, journeys: pl.DataFrame) -> pl.DataFrame:
    """Per model and scope: the conversions and revenue the model credited (channels and the
    baseline row together) against the converted journeys of that scope, and whether both agree
    to CREDIT_TOLERANCE (relative). Every model shares out the same conversions."""
    converted = journeys.filter(pl.col("converted"))
    per_scope = pl.concat(
        [
            converted.select(
                scope=pl.lit("all"), journeys=pl.len(), revenue=pl.col("revenue").sum()
            ),
            converted.group_by("scope").agg(journeys=pl.len(), revenue=pl.col("revenue").sum()),
        ],
        how="vertical_relaxed",
    )
    return (
        credit.group_by("model", "scope")
        .agg(credited=pl.col("conversions").sum(), credited_revenue=pl.col("revenue").sum())
        .join(per_scope, on="scope", how="left")
        .with_columns(pl.col("journeys", "revenue").fill_null(0))
        .with_columns(
            reconciled=(
                (pl.col("credited") - pl.col("journeys")).abs()
                <= CREDIT_TOLERANCE * pl.max_horizontal(pl.col("journeys"), 1)
            )
            & (
                (pl.col("credited_revenue") - pl.col("revenue")).abs()
                <= CREDIT_TOLERANCE * pl.max_horizontal(pl.col("revenue").abs(), 1)
            )
        )
        .rename({"journeys": "converted_journeys", "revenue": "journey_revenue"})
        .sort("model", "scope")
    )


def _ratio(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)


def text_bar(value: float, scale: float, width: int = 20) -> str:
    """A text bar for Markdown tables (negative values drawn with '-')."""
    if scale <= 0:
        return ""
    n = int(round(min(abs(value) / scale, 1.0) * width))
    return ("#" if value >= 0 else "-") * n
