"""RFM scores with the ten named segments, and the "333" value tiers, from orders alone
(customer_id, order_date, order_amount_krw): the minimal dataset is enough."""

from __future__ import annotations

from datetime import date

import polars as pl

from dagster_project.lib.segments.config import RfmConfig, ValueTierConfig

SEGMENT_ORDER = (
    "champions",
    "loyal",
    "potential_loyalist",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
)
VALUE_TIERS = ("star", "butterfly", "engaged_low_spender", "other")


def customer_order_totals(
    orders: pl.DataFrame, customers: pl.DataFrame, as_of: date
) -> pl.DataFrame:
    """One row per customer (all of `customers`, buyers or not): orders, revenue, first and last
    order date up to and including `as_of`, and days since the last order."""
    totals = (
        orders.filter(pl.col("order_date") <= as_of)
        .group_by("customer_id")
        .agg(
            orders=pl.len().cast(pl.Int64),
            revenue_krw=pl.col("order_amount_krw").sum(),
            first_order_date=pl.col("order_date").min(),
            last_order_date=pl.col("order_date").max(),
        )
    )
    return (
        customers.select("customer_id")
        .join(totals, on="customer_id", how="left")
        .with_columns(
            pl.col("orders").fill_null(0),
            pl.col("revenue_krw").fill_null(0.0),
            recency_days=(pl.lit(as_of) - pl.col("last_order_date")).dt.total_days(),
        )
        .sort("customer_id")
    )


def _quintile(value: pl.Expr, higher_is_better: bool) -> pl.Expr:
    """1-5 by rank among the rows the expression sees; ties share the lower score."""
    ranked = (value if higher_is_better else -value).rank("min")
    return (1 + ((ranked - 1) * 5 // value.count())).clip(1, 5).cast(pl.Int8)


def _bounded(value: pl.Expr, bounds: tuple[float, ...], higher_is_better: bool) -> pl.Expr:
    if len(bounds) != 4 or list(bounds) != sorted(bounds):
        raise ValueError(f"RFM bounds must be four ascending numbers, got {bounds}")
    above = pl.sum_horizontal(
        [(value > b) if not higher_is_better else (value >= b) for b in bounds]
    )
    return (5 - above if not higher_is_better else 1 + above).cast(pl.Int8)


def rfm_segments(totals: pl.DataFrame, cfg: RfmConfig | None = None) -> pl.DataFrame:
    """Recency, frequency and monetary scores (1-5) for buyers, the combined FM score (the rounded
    mean of F and M) and the named segment; non-buyers get `no_purchase_segment` and null scores."""
    cfg = cfg or RfmConfig()
    buyers = totals.filter(pl.col("orders") > 0)

    def score(column: str, bounds, higher: bool) -> pl.Expr:
        v = pl.col(column).cast(pl.Float64)
        return _bounded(v, bounds, higher) if bounds else _quintile(v, higher)

    scored = buyers.with_columns(
        r_score=score("recency_days", cfg.recency_days, False),
        f_score=score("orders", cfg.frequency_orders, True),
        m_score=score("revenue_krw", cfg.monetary_krw, True),
    ).with_columns(fm_score=((pl.col("f_score") + pl.col("m_score") + 1) // 2).cast(pl.Int8))
    segment = pl.lit(None, pl.String)
    for name, (r_lo, r_hi), (fm_lo, fm_hi) in reversed(cfg.segments):
        segment = (
            pl.when(
                pl.col("r_score").is_between(r_lo, r_hi)
                & pl.col("fm_score").is_between(fm_lo, fm_hi)
            )
            .then(pl.lit(name))
            .otherwise(segment)
        )
    scored = scored.with_columns(rfm_segment=segment)
    unmapped = scored.filter(pl.col("rfm_segment").is_null())
    if unmapped.height:
        cell = unmapped.row(0, named=True)
        raise ValueError(
            f"RFM segment map covers no segment for recency {cell['r_score']}, "
            f"FM {cell['fm_score']} (customer {cell['customer_id']})"
        )
    return (
        totals.join(
            scored.select(
                "customer_id", "r_score", "f_score", "m_score", "fm_score", "rfm_segment"
            ),
            on="customer_id",
            how="left",
        )
        .with_columns(
            pl.col("rfm_segment").fill_null(cfg.no_purchase_segment),
            rfm_cell=pl.format("{}{}{}", "r_score", "f_score", "m_score"),
        )
        .sort("customer_id")
    )


def value_tiers(totals: pl.DataFrame, cfg: ValueTierConfig | None = None) -> pl.DataFrame:
    """The "333" scores (1-3 each), `is_engaged` (R + F above the threshold) and the tier: star
    (high value, engaged), butterfly (high value, not engaged), engaged_low_spender, other."""
    cfg = cfg or ValueTierConfig()
    recent, older = cfg.recency_days
    low, high = cfg.monetary_krw
    interval = (pl.col("last_order_date") - pl.col("first_order_date")).dt.total_days() / (
        pl.col("orders") - 1
    )
    out = totals.with_columns(
        repurchase_interval_days=pl.when(pl.col("orders") > 1).then(interval),
        v_recency=pl.when(pl.col("recency_days") <= recent)
        .then(3)
        .when(pl.col("recency_days") <= older)
        .then(2)
        .otherwise(1)
        .cast(pl.Int8),
        v_frequency=pl.when(pl.col("orders") <= 1)
        .then(1)
        .when(interval <= cfg.repurchase_interval_days)
        .then(3)
        .otherwise(2)
        .cast(pl.Int8),
        v_monetary=pl.when(pl.col("revenue_krw") >= high)
        .then(3)
        .when(pl.col("revenue_krw") >= low)
        .then(2)
        .otherwise(1)
        .cast(pl.Int8),
    ).with_columns(
        is_engaged=(pl.col("v_recency") + pl.col("v_frequency")) > cfg.engaged_above,
        is_high_value=pl.col("v_monetary") >= cfg.high_value_min_score,
    )
    return out.with_columns(
        value_code=pl.format("{}{}{}", "v_recency", "v_frequency", "v_monetary"),
        value_tier=pl.when(pl.col("is_high_value") & pl.col("is_engaged"))
        .then(pl.lit("star"))
        .when(pl.col("is_high_value"))
        .then(pl.lit("butterfly"))
        .when(pl.col("is_engaged"))
        .then(pl.lit("engaged_low_spender"))
        .otherwise(pl.lit("other")),
    ).select(
        "customer_id",
        "v_recency",
        "v_frequency",
        "v_monetary",
        "value_code",
        "repurchase_interval_days",
        "is_engaged",
        "is_high_value",
        "value_tier",
    )
