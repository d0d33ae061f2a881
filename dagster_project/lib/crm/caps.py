"""Personal frequency caps: each customer's message tolerance, learned from how their response
decays with the messages they received recently (and their opt-outs), shrunk to their segment.

Model. A customer tolerates T messages in any CAP_WINDOW_DAYS days. The n-th message of a
window (n counted with it) is opened with probability p_i * exp(-beta * max(0, n - T)) and
causes an opt-out with probability a + b * max(0, n - T). p_i is the customer's fresh open rate:
their opens of first-in-window messages, shrunk to their segment's rate (Beta prior, strength
FRESH_PRIOR messages); a is the population's opt-out rate of first-in-window messages.
T has a discrete prior per segment over 1..MAX_TOLERANCE, fitted by EM (empirical Bayes: the
prior is the segment's mean posterior), so a customer with few messages gets their segment's
tolerance and one with many gets their own. beta and b are chosen on a grid by the marginal
likelihood of all messages. The cap is the posterior median of T (the largest n with
P(T >= n) >= 1/2: the n-th message is more likely inside the tolerance than past it), at least
1 and at most the channel cap (config.FREQUENCY_CAPS), which stays the ceiling.

Input: one row per message sent (customer_id, sent_at, is_opened; optional is_opt_out, the
opt-out that followed this message), the channel's messages only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

CAP_WINDOW_DAYS = 7
MAX_TOLERANCE = 10
FRESH_PRIOR = 10.0
BETA_GRID = (0.3, 0.6, 1.0, 1.5)
SLOPE_GRID = (0.01, 0.03, 0.06)
EM_ROUNDS = 25


class CapsError(ValueError):
    """Bad input to the caps model (the message names the input and the rule)."""


@dataclass
class CapsModel:
    table: pl.DataFrame  # one row per customer (see fit_caps)
    beta: float
    slope: float
    segment_prior: dict[str, np.ndarray]


def window_counts(sends: pl.DataFrame, window_days: int = CAP_WINDOW_DAYS) -> pl.DataFrame:
    """``sends`` with n_in_window: this message's rank among the customer's messages of the
    ``window_days`` days up to it (1 = the first of its window)."""
    for col in ("customer_id", "sent_at", "is_opened"):
        if col not in sends.columns:
            raise CapsError(f"sends: missing column {col!r} (customer_id, sent_at, is_opened)")
    s = sends.sort("customer_id", "sent_at").with_row_index("_row")
    counted = s.rolling(
        index_column="sent_at", period=timedelta(days=window_days), group_by="customer_id"
    ).agg(n_in_window=pl.len())
    return s.with_columns(n_in_window=counted["n_in_window"].cast(pl.Int64)).drop("_row")


def _loglik(n, opened, opt, p, beta, a, b, tol) -> np.ndarray:
    """(messages, T candidates) log-likelihood of each message under each tolerance."""
    excess = np.maximum(0, n[:, None] - tol[None, :])
    po = np.clip(p[:, None] * np.exp(-beta * excess), 1e-6, 1 - 1e-6)
    pq = np.clip(a + b * excess, 1e-6, 1 - 1e-6)
    ll = np.where(opened[:, None], np.log(po), np.log1p(-po))
    return ll + np.where(opt[:, None], np.log(pq), np.log1p(-pq))


def fit_caps(sends: pl.DataFrame, segments: pl.DataFrame, channel_cap: int) -> CapsModel:
    """Per customer of ``segments`` (customer_id, segment): tolerance posterior mean, median and
    the cap. Customers without messages get their segment's prior."""
    if channel_cap < 1:
        raise CapsError(f"channel_cap {channel_cap}: must be at least 1")
    s = window_counts(sends)
    if "is_opt_out" not in s.columns:
        s = s.with_columns(is_opt_out=pl.lit(False))
    seg = segments.select(pl.col("customer_id").cast(pl.String), pl.col("segment").cast(pl.String))
    seg = seg.unique("customer_id").sort("customer_id").with_row_index("row")
    s = s.join(seg, on="customer_id", how="inner")
    n_c = seg.height
    row = s["row"].to_numpy().astype(np.int64)
    n = s["n_in_window"].to_numpy()
    opened = s["is_opened"].fill_null(False).to_numpy()
    opt = s["is_opt_out"].fill_null(False).to_numpy()
    names = sorted(seg["segment"].unique().to_list())
    seg_of = np.searchsorted(names, seg["segment"].to_numpy())
    # Fresh open rates from first-in-window messages, shrunk to the segment's.
    fresh = n == 1
    opens_f = np.bincount(row[fresh], opened[fresh], minlength=n_c)
    sends_f = np.bincount(row[fresh], minlength=n_c).astype(float)
    seg_rate = np.array(
        [
            opens_f[seg_of == k].sum() / max(sends_f[seg_of == k].sum(), 1.0)
            for k in range(len(names))
        ]
    )
    p_i = (opens_f + FRESH_PRIOR * seg_rate[seg_of]) / (sends_f + FRESH_PRIOR)
    a = float(opt[fresh].mean()) if fresh.any() else 0.001
    tol = np.arange(1, MAX_TOLERANCE + 1)
    best = None
    for beta in BETA_GRID:
        for b in SLOPE_GRID:
            ll_msg = _loglik(n, opened, opt, p_i[row], beta, max(a, 1e-4), b, tol)
            ll = np.zeros((n_c, tol.size))
            for k in range(tol.size):
                ll[:, k] = np.bincount(row, ll_msg[:, k], minlength=n_c)
            prior = np.full((len(names), tol.size), 1.0 / tol.size)
            for _ in range(EM_ROUNDS):
                logpost = ll + np.log(prior[seg_of])
                mx = logpost.max(axis=1, keepdims=True)
                post = np.exp(logpost - mx)
                post /= post.sum(axis=1, keepdims=True)
                for k in range(len(names)):
                    prior[k] = post[seg_of == k].mean(axis=0) + 1e-6
                    prior[k] /= prior[k].sum()
            marginal = float(np.sum(mx[:, 0] + np.log(np.exp(logpost - mx).sum(axis=1))))
            if best is None or marginal > best[0]:
                best = (marginal, beta, b, post, prior.copy())
    _, beta, b, post, prior = best
    cdf = post.cumsum(axis=1)
    survival = 1 - np.c_[np.zeros(n_c), cdf[:, :-1]]  # P(T >= t)
    median = tol[np.maximum((survival >= 0.5).sum(axis=1) - 1, 0)]
    table = seg.select("customer_id", "segment").with_columns(
        n_messages=pl.Series(np.bincount(row, minlength=n_c).astype(np.int64)),
        n_opt_outs=pl.Series(np.bincount(row, opt, minlength=n_c).astype(np.int64)),
        fresh_open_rate=pl.Series(p_i),
        tolerance_mean=pl.Series(post @ tol),
        tolerance_median=pl.Series(median.astype(np.int64)),
        max_sends=pl.Series(np.clip(median, 1, channel_cap).astype(np.int64)),
        window_days=pl.lit(CAP_WINDOW_DAYS, pl.Int64),
        channel_cap=pl.lit(channel_cap, pl.Int64),
    )
    return CapsModel(table, beta, b, {k: prior[j] for j, k in enumerate(names)})
