"""Multi-arm tests: several creatives or offers and one holdout in a campaign.

Assignment (``assign_arms``): the campaign's stable hash (audience.hash_unit of
"<campaign_id>:<customer_id>") puts a customer in the holdout when hash_unit < holdout_share,
exactly as a one-arm campaign does, so the holdout never moves. The treated rest is split by a
second stable hash, of "<campaign_id>:arm:<send>:<customer_id>", over the arms' cumulative
shares (the YAML's, or in adaptive mode the shares of the customer's segment for that send).
With fixed shares the send number is 0: a customer keeps their arm on every send.

Measurement (``measure_arms``): every arm against the holdout and every pair of arms, as the
campaign report measures a campaign (uplift.measure.measure_uplift: Welch intervals and the
simultaneous Bonferroni interval over all m = k + k(k-1)/2 comparisons, so the chance that any
of them misses is at most alpha); and each arm's posterior probability of being the best, from
Beta(1 + conversions, 1 + non-conversions) by Monte Carlo (``PROB_BEST_DRAWS`` draws, seeded).

Adaptive mode (``thompson_shares``): before each send, per segment, an arm's share is its
posterior probability of being best in that segment from the sends so far (Thompson sampling
in batch form), floored at ``MIN_SHARE`` so no arm stops learning; the holdout share stays
fixed. The reward it learns from is the caller's column: an order after an open resolves a
creative's effect with about half the sends any order in the window needs (docs/crm.md).
Measurement rules in adaptive mode: shares change between sends, so pooling all sends
would mix periods with different arm mixes; arms are compared with the holdout within each send
and the per-send differences combined with weights equal to the arm's customers in that send
(``measure_adaptive``), with the same simultaneous intervals; the probability of being best uses
all the arm's sends (the posterior does not depend on how the sends were allocated).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from dagster_project.lib.campaigns.audience import hash_unit
from dagster_project.lib.uplift.measure import VerdictRule, measure_uplift

PROB_BEST_DRAWS = 20_000
MIN_SHARE = 0.05
HOLDOUT = "holdout"


def prob_best(conversions: np.ndarray, n: np.ndarray, seed: int = 0, draws: int = PROB_BEST_DRAWS):
    """P(each arm has the highest conversion rate) under independent Beta(1 + x, 1 + n - x)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(conversions, dtype=float)
    m = np.asarray(n, dtype=float)
    samples = rng.beta(1 + x[None, :], 1 + (m - x)[None, :], size=(draws, x.size))
    wins = np.bincount(samples.argmax(axis=1), minlength=x.size)
    return wins / draws


def assign_arms(
    campaign_id: str,
    treated: pl.DataFrame,
    arms: list[str],
    shares: pl.DataFrame | list[float],
    send: int = 0,
    by: str | None = None,
) -> pl.DataFrame:
    """``treated`` (customer_id, and ``by`` for per-segment shares) with ``arm_id``. ``shares``:
    one share per arm, or a frame (``by``, arm_id, share) in adaptive mode."""
    key = f"{campaign_id}:arm:{send}"
    out = treated.sort("customer_id").with_columns(
        _u=hash_unit(key, treated.sort("customer_id")["customer_id"])
    )
    if isinstance(shares, list):
        cum = np.cumsum(shares)
        cum[-1] = 1.0
        j = np.searchsorted(cum, out["_u"].to_numpy(), side="right")
        return out.with_columns(arm_id=pl.Series(np.asarray(arms)[j])).drop("_u")
    wide = shares.pivot(on="arm_id", index=by, values="share").select(by, *arms).fill_null(0.0)
    out = out.join(wide, on=by, how="left")
    mat = out.select(arms).fill_null(1.0 / len(arms)).to_numpy()
    cum = np.cumsum(mat / mat.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    j = (out["_u"].to_numpy()[:, None] >= cum).sum(axis=1)
    return out.drop("_u", *arms).with_columns(arm_id=pl.Series(np.asarray(arms)[j]))


def _comparisons(sends: pl.DataFrame, arms: list[str]) -> pl.DataFrame:
    """Rows in measure_uplift's shape, one 'campaign' per comparison: '<arm> vs holdout' and
    '<a> vs <b>' (a before b in the arms' order)."""
    base = sends.select(
        "arm_id", pl.col("is_converted").cast(pl.Int64), pl.col("revenue_krw").cast(pl.Float64)
    )
    parts = []
    pairs = [(a, HOLDOUT) for a in arms] + [
        (a, b) for k, a in enumerate(arms) for b in arms[k + 1 :]
    ]
    for a, b in pairs:
        part = base.filter(pl.col("arm_id").is_in([a, b])).select(
            campaign_id=pl.lit(f"{a} vs {b}"),
            is_treatment=pl.col("arm_id") == a,
            is_converted="is_converted",
            revenue_krw="revenue_krw",
        )
        parts.append(part)
    return pl.concat(parts)


def measure_arms(
    sends: pl.DataFrame, arms: list[str], rule: VerdictRule | None = None, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``sends``: arm_id ('holdout' for the holdout), is_converted, revenue_krw.
    Returns (comparisons: measure_uplift's report, one row per comparison with simultaneous
    intervals over all of them; arms: one row per arm with customers, conversion and
    prob_best)."""
    missing = sorted(set(arms) - set(sends["arm_id"].unique().to_list()))
    if missing:
        raise ValueError(f"measure_arms: no sends for arm(s) {missing}")
    report = measure_uplift(_comparisons(sends, arms), rule=rule)
    per = (
        sends.filter(pl.col("arm_id") != HOLDOUT)
        .group_by("arm_id")
        .agg(customers=pl.len(), conversions=pl.col("is_converted").cast(pl.Int64).sum())
    )
    per = pl.DataFrame({"arm_id": arms}).join(per, on="arm_id", how="left")
    pb = prob_best(per["conversions"].to_numpy(), per["customers"].to_numpy(), seed)
    per = per.with_columns(
        conversion=pl.col("conversions") / pl.col("customers"), prob_best=pl.Series(pb)
    )
    return report, per


def thompson_shares(
    sends: pl.DataFrame,
    arms: list[str],
    by: str,
    segments: list[str],
    seed: int = 0,
    reward: str = "is_converted",
) -> pl.DataFrame:
    """(``by``, arm_id, share) for the next send: each segment's P(best) per arm from its
    treated sends so far (arm_id, ``by`` and the 0/1 ``reward`` column), floored at MIN_SHARE.
    The reward should carry the creative's effect with as little other noise as the data allows:
    an order after an open (``is_opened & is_converted``) drops the orders of customers who
    never saw the message, which no creative can change."""
    rows = []
    treated = sends.filter(pl.col("arm_id") != HOLDOUT)
    for k, seg in enumerate(segments):
        part = treated.filter(pl.col(by) == seg)
        agg = part.group_by("arm_id").agg(n=pl.len(), x=pl.col(reward).cast(pl.Int64).sum())
        full = pl.DataFrame({"arm_id": arms}).join(agg, on="arm_id", how="left").fill_null(0)
        p = prob_best(full["x"].to_numpy(), full["n"].to_numpy(), seed + k, draws=4_000)
        p = np.maximum(p, MIN_SHARE)
        p /= p.sum()
        rows += [{by: seg, "arm_id": a, "share": float(s)} for a, s in zip(arms, p, strict=True)]
    return pl.DataFrame(rows)


def measure_adaptive(
    sends: pl.DataFrame, arms: list[str], alpha: float = 0.05, seed: int = 0
) -> pl.DataFrame:
    """Adaptive-mode measurement: each arm against the holdout within each send (``send``
    column), combined over sends weighted by the arm's customers; simultaneous (Bonferroni)
    normal intervals over the arms; prob_best from all the arm's sends."""
    conv = pl.col("is_converted").cast(pl.Float64)
    per_send = sends.group_by("send", "arm_id").agg(
        n=pl.len(), mean=conv.mean(), var=conv.var().fill_null(0.0)
    )
    hold = per_send.filter(pl.col("arm_id") == HOLDOUT).select(
        "send", n_h="n", mean_h="mean", var_h="var"
    )
    d = per_send.filter(pl.col("arm_id") != HOLDOUT).join(hold, on="send", how="inner")
    d = d.with_columns(
        diff=pl.col("mean") - pl.col("mean_h"),
        v=pl.col("var") / pl.col("n") + pl.col("var_h") / pl.col("n_h"),
    )
    agg = d.group_by("arm_id").agg(
        customers=pl.col("n").sum(),
        diff=(pl.col("diff") * pl.col("n")).sum() / pl.col("n").sum(),
        se=((pl.col("n") ** 2 * pl.col("v")).sum()).sqrt() / pl.col("n").sum(),
    )
    out = pl.DataFrame({"arm_id": arms}).join(agg, on="arm_id", how="left")
    z = float(stats.norm.ppf(1 - alpha / (2 * len(arms))))
    totals = (
        sends.filter(pl.col("arm_id") != HOLDOUT)
        .group_by("arm_id")
        .agg(x=pl.col("is_converted").cast(pl.Int64).sum(), n=pl.len())
    )
    totals = pl.DataFrame({"arm_id": arms}).join(totals, on="arm_id", how="left").fill_null(0)
    return out.with_columns(
        conversion_sim_low=pl.col("diff") - z * pl.col("se"),
        conversion_sim_high=pl.col("diff") + z * pl.col("se"),
        prob_best=pl.Series(prob_best(totals["x"].to_numpy(), totals["n"].to_numpy(), seed)),
    )
