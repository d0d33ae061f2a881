"""Purchase-probability bands and the purchase-probability x expected-value grid for coupon
campaigns, over scores (customer_id, p_buy, expected_value_krw): the `gold.customer_scores`
table of the purchase-probability and LTV models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

# What to do in each cell of the 3 x 3 grid (probability level, value level): coupons go where
# they can change behaviour and the order is worth it, not to customers who buy anyway.
DEFAULT_GRID_ACTIONS: Mapping[tuple[str, str], str] = {
    ("high", "high"): "no coupon: buys anyway; recommend and upsell",
    ("high", "mid"): "basket nudge: free-shipping threshold",
    ("high", "low"): "no coupon: buys anyway",
    ("mid", "high"): "coupon: value-based (percent off)",
    ("mid", "mid"): "coupon: fixed amount with a minimum order",
    ("mid", "low"): "small coupon with a minimum order",
    ("low", "high"): "reactivation: personal message, bigger coupon",
    ("low", "mid"): "reactivation: cheap channel (push)",
    ("low", "low"): "no spend",
}
LEVELS = ("low", "mid", "high")


def _check(scores: pl.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in scores.columns]
    if missing:
        raise ValueError(f"scores lack column(s) {', '.join(missing)}")
    bad = scores.filter(~pl.col("p_buy").is_between(0.0, 1.0) | pl.col("p_buy").is_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise ValueError(
            f"p_buy must be within [0, 1]: customer {row['customer_id']} has {row['p_buy']} "
            f"({bad.height} such rows)"
        )


def probability_deciles(scores: pl.DataFrame) -> pl.DataFrame:
    """Each customer's purchase-probability decile, 10 = the most likely tenth (ties share the
    lower decile, so equal scores always share a decile)."""
    _check(scores, ["customer_id", "p_buy"])
    ranked = pl.col("p_buy").rank("min")
    return scores.with_columns(
        p_buy_decile=(1 + (ranked - 1) * 10 // pl.len()).clip(1, 10).cast(pl.Int8)
    )


def probability_bands(
    scores: pl.DataFrame, ranges: Mapping[str, tuple[float, float]]
) -> pl.DataFrame:
    """Marketer-set bands: name -> [low, high) on p_buy (a high of 1.0 includes 1.0). Ranges must
    not overlap; a customer outside every range gets a null band."""
    _check(scores, ["customer_id", "p_buy"])
    spans = sorted((lo, hi, name) for name, (lo, hi) in ranges.items())
    for lo, hi, name in spans:
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"band {name!r}: need 0 <= low < high <= 1, got [{lo}, {hi})")
    for (_, hi1, n1), (lo2, _, n2) in zip(spans, spans[1:], strict=False):
        if lo2 < hi1:
            raise ValueError(f"bands {n1!r} and {n2!r} overlap")
    band = pl.lit(None, pl.String)
    for lo, hi, name in spans:
        inside = (pl.col("p_buy") >= lo) & (
            (pl.col("p_buy") < hi) | ((pl.col("p_buy") == 1.0) & (hi == 1.0))
        )
        band = pl.when(inside).then(pl.lit(name)).otherwise(band)
    return scores.with_columns(p_buy_band=band)


def band_summary(scores: pl.DataFrame, band: str = "p_buy_decile") -> pl.DataFrame:
    """Per band: customers, mean p_buy, expected buyers (sum of p_buy) and, with
    expected_value_krw, the expected value in the band."""
    aggs = [
        pl.len().alias("customers"),
        pl.col("p_buy").mean().alias("mean_p_buy"),
        pl.col("p_buy").sum().alias("expected_buyers"),
    ]
    if "expected_value_krw" in scores.columns:
        aggs.append(pl.col("expected_value_krw").sum().alias("expected_value_krw"))
    return scores.group_by(band).agg(aggs).sort(band, descending=True, nulls_last=True)


def value_grid(
    scores: pl.DataFrame,
    p_edges: tuple[float, float] | None = None,
    value_edges: tuple[float, float] | None = None,
    actions: Mapping[tuple[str, str], str] = DEFAULT_GRID_ACTIONS,
) -> pl.DataFrame:
    """Each customer's cell in the 3 x 3 purchase-probability x expected-value grid. Edges are
    (low|mid, mid|high) cut points; by default the terciles of each score (values at or above an
    edge go up). Adds p_level, value_level, grid_cell ("mid/high") and the cell's action."""
    _check(scores, ["customer_id", "p_buy", "expected_value_krw"])

    def edges(column: str, given):
        if given is not None:
            if len(given) != 2 or given[0] > given[1]:
                raise ValueError(f"{column} edges must be two ascending numbers, got {given}")
            return given
        return tuple(scores[column].quantile(q, "linear") for q in (1 / 3, 2 / 3))

    def level(column: str, cut) -> pl.Expr:
        return (
            pl.when(pl.col(column) >= cut[1])
            .then(pl.lit("high"))
            .when(pl.col(column) >= cut[0])
            .then(pl.lit("mid"))
            .otherwise(pl.lit("low"))
        )

    pe, ve = edges("p_buy", p_edges), edges("expected_value_krw", value_edges)
    action_frame = pl.DataFrame(
        {
            "p_level": [k[0] for k in actions],
            "value_level": [k[1] for k in actions],
            "action": list(actions.values()),
        }
    )
    return (
        scores.with_columns(p_level=level("p_buy", pe), value_level=level("expected_value_krw", ve))
        .with_columns(grid_cell=pl.format("{}/{}", "p_level", "value_level"))
        .join(action_frame, on=["p_level", "value_level"], how="left")
    )


def grid_summary(grid: pl.DataFrame) -> pl.DataFrame:
    """Per cell of the grid: customers, mean p_buy, mean and total expected value, action."""
    order = {lvl: i for i, lvl in enumerate(LEVELS)}
    return (
        grid.group_by("p_level", "value_level", "action")
        .agg(
            customers=pl.len(),
            mean_p_buy=pl.col("p_buy").mean(),
            mean_expected_value_krw=pl.col("expected_value_krw").mean(),
            expected_value_krw=pl.col("expected_value_krw").sum(),
        )
        .with_columns(
            _p=pl.col("p_level").replace_strict(order),
            _v=pl.col("value_level").replace_strict(order),
        )
        .sort("_p", "_v", descending=True)
        .drop("_p", "_v")
    )
