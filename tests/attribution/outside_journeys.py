"""Journeys generated outside the project: a small generative model of its own (it does not import
the simulator) with timed conversions, organic visits, intent-driven search and retargeting,
zero-effect channels, and its own exact truth by re-simulation with each channel removed.

The model, per customer-day:
- Latent intent: a shopping episode is on or off (a Markov chain: starts with EPISODE_START,
  continues with EPISODE_STAY). Marketing never changes it.
- Organic visits ~ Poisson(visit rate x (1 + VISIT_BOOST x episode)), logged as `direct` visits
  (or, when an ad of the channel was shown that day, as a click of that channel: the customer
  would have come anyway).
- Exposures: display (everyone, at random), social (by reach), search (after yesterday's visit,
  much more inside an episode: the customer searches because they want to buy), retargeting
  (after a visit in the last two days), email (weekly, to the engaged: zero effect), kakao
  (fortnightly sends to a random part of the opt-ins).
- Purchase: probability 1 - exp(-h), h = base hazard x (1 + BUY_BOOST x episode) x prod over
  channels (1 + effect x decayed exposure). Each purchase comes with its own session minutes
  before, and an order value fixed per customer-day.
All draws are keyed uniforms per (customer, day, purpose) shared by every scenario, and exposures
do not depend on purchases, so "channel removed" differs from the factual world only through
that channel's effect: the truth is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

START = datetime(2025, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
CHANNELS = ("display", "social", "search", "retargeting", "email", "kakao")
# Effect on the purchase hazard per unit of decayed exposure, and the decay (days).
EFFECT = {
    "display": 0.0,
    "social": 0.5,
    "search": 0.9,
    "retargeting": 0.2,
    "email": 0.0,
    "kakao": 2.0,
}
DECAY_DAYS = {
    "display": 3.0,
    "social": 3.0,
    "search": 1.0,
    "retargeting": 2.0,
    "email": 3.0,
    "kakao": 3.0,
}
CLICK_PROB = {
    "display": 0.05,
    "social": 0.1,
    "search": 0.6,
    "retargeting": 0.3,
    "email": 0.2,
    "kakao": 0.4,
}
EPISODE_START, EPISODE_STAY = 0.04, 0.8
VISIT_BOOST, BUY_BOOST = 4.0, 4.0


@dataclass
class Outside:
    touches: pl.DataFrame  # journey_id, touched_at, channel, campaign_id, touch_type
    outcomes: pl.DataFrame  # journey_id, converted, revenue, customer_id, as_of
    features: pl.DataFrame  # customer_id, event_timestamp, snapshot features
    truth: pl.DataFrame  # channel, incremental_orders, incremental_revenue, is_zero_effect, ...


class _Uniforms:
    """Keyed uniforms: a fixed function of (purpose, customer, day), whatever the scenario."""

    def __init__(self, seed: int, n: int, days: int):
        self.seed, self.n, self.days = seed, n, days

    def __call__(self, purpose: int, d: int) -> np.ndarray:
        ss = np.random.SeedSequence([self.seed, purpose, d + 1])
        return np.random.default_rng(ss).random(self.n)


def _poisson(u: np.ndarray, lam: np.ndarray, kmax: int = 6) -> np.ndarray:
    """Inverse-CDF Poisson draws of fixed uniforms."""
    p = np.exp(-lam)
    cdf, k = p.copy(), np.zeros(u.shape, dtype=np.int64)
    for j in range(1, kmax + 1):
        k += u > cdf
        p = p * lam / j
        cdf = cdf + p
    return k


def _run(n: int, days: int, seed: int, on: np.ndarray) -> dict[str, np.ndarray]:
    """One scenario (`on`: which channels act): per customer-day grids."""
    u = _Uniforms(seed, n, days)
    traits = np.random.default_rng([seed, 999])
    visit_rate = traits.gamma(2.0, 0.06, n)
    hazard0 = traits.gamma(2.0, 0.004, n)
    reach = traits.uniform(0.5, 1.5, n)
    opt_in = traits.random(n) < 0.6
    n_ch = len(CHANNELS)
    decay = np.exp(-1.0 / np.array([DECAY_DAYS[c] for c in CHANNELS]))
    effect = np.array([EFFECT[c] for c in CHANNELS]) * on
    episode = u(0, -1) < EPISODE_START / (EPISODE_START + 1 - EPISODE_STAY)
    stock = np.zeros((n, n_ch))
    last_visit = np.full(n, -99)
    grids = {
        "visits": np.zeros((n, days), dtype=np.int64),
        "exposed": np.zeros((n, days, n_ch), dtype=bool),
        "buy": np.zeros((n, days), dtype=bool),
        "episode": np.zeros((n, days), dtype=bool),
    }
    for d in range(days):
        ue = u(1, d)
        episode = np.where(episode, ue < EPISODE_STAY, ue < EPISODE_START)
        grids["episode"][:, d] = episode
        recent = last_visit >= d - 2
        p = {
            "display": np.full(n, 0.06),
            "social": 0.035 * reach,
            "search": np.where(last_visit == d - 1, np.where(episode, 0.4, 0.25), 0.01),
            "retargeting": np.where(recent, 0.3, 0.0),
            "email": np.where((d % 7 == 3) & opt_in & (last_visit >= d - 14), 1.0, 0.0),
            "kakao": np.where((d % 14 == 5) & opt_in, 0.35, 0.0),
        }
        exposed = np.stack([u(10 + k, d) < p[c] for k, c in enumerate(CHANNELS)], axis=1)
        grids["exposed"][:, d] = exposed
        stock = stock * decay + exposed * on
        hazard = hazard0 * (1 + BUY_BOOST * episode) * np.prod(1 + effect * stock, axis=1)
        grids["buy"][:, d] = u(2, d) < 1 - np.exp(-hazard)
        visits = _poisson(u(3, d), visit_rate * (1 + VISIT_BOOST * episode))
        grids["visits"][:, d] = visits
        last_visit = np.where((visits > 0) | grids["buy"][:, d], d, last_visit)
    return grids


def _order_value(seed: int, n: int, days: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 998])
    return np.round(np.exp(10.3 + 0.5 * rng.standard_normal((n, days))), -2)


def _seconds(seed: int, purpose: int, size: int) -> np.ndarray:
    return np.random.default_rng([seed, purpose]).integers(0, 86_400, size)


def generate(n: int = 5_000, days: int = 120, seed: int = 5) -> Outside:
    n_ch = len(CHANNELS)
    factual = _run(n, days, seed, np.ones(n_ch))
    value = _order_value(seed, n, days)
    rows = []
    scenarios = {"factual": np.ones(n_ch), "none": np.zeros(n_ch)}
    for k, c in enumerate(CHANNELS):
        off = np.ones(n_ch)
        off[k] = 0
        scenarios[c] = off
    totals = {}
    for name, on in scenarios.items():
        buy = factual["buy"] if name == "factual" else _run(n, days, seed, on)["buy"]
        totals[name] = (int(buy.sum()), float((value * buy).sum()))
    fo, fr = totals["factual"]
    for c in CHANNELS:
        rows.append(
            {
                "channel": c,
                "incremental_orders": fo - totals[c][0],
                "incremental_revenue": fr - totals[c][1],
                "is_zero_effect": EFFECT[c] == 0,
                "factual_orders": fo,
                "baseline_orders": totals["none"][0],
                "baseline_revenue": totals["none"][1],
            }
        )
    truth = pl.DataFrame(rows)
    touches, orders = _logs(factual, value, seed)
    touches, outcomes = _journeys(touches, orders, days)
    return Outside(touches, outcomes, _features(factual, n, days), truth)


def _logs(g: dict[str, np.ndarray], value: np.ndarray, seed: int):
    """Touch and order logs of the factual world (times within the day at random)."""
    ci, cd, ck = np.nonzero(g["exposed"])
    exp = pl.DataFrame(
        {
            "i": ci,
            "d": cd,
            "channel": np.array(CHANNELS)[ck],
            "sec": _seconds(seed, 1, ci.size),
        }
    ).with_columns(
        touch_type=pl.when(pl.col("channel").is_in(["email", "kakao"]))
        .then(pl.lit("send"))
        .otherwise(pl.lit("impression")),
        campaign_id=pl.col("channel") + "_" + (pl.col("d") // 30).cast(pl.Utf8),
    )
    vi, vd = np.nonzero(g["visits"])
    visits = (
        pl.DataFrame({"i": vi, "d": vd, "n": g["visits"][vi, vd]})
        .with_columns(k=pl.int_ranges(0, "n"))
        .explode("k")
    )
    bi, bd = np.nonzero(g["buy"])
    orders = pl.DataFrame(
        {"i": bi, "d": bd, "sec": 600 + _seconds(seed, 2, bi.size) % 85_000}
    ).with_columns(revenue=pl.Series(value[bi, bd]))
    # Every order's own session, minutes before it; plus the organic visits.
    sessions = pl.concat(
        [
            visits.select("i", "d", sec=pl.Series(_seconds(seed, 3, visits.height))),
            orders.select("i", "d", sec=pl.col("sec") - 300),
        ]
    ).with_row_index("s")
    # A session on a day with an ad of a channel is logged as that ad's click with CLICK_PROB.
    rng = np.random.default_rng([seed, 4])
    cand = sessions.join(exp.select("i", "d", "channel", "campaign_id"), on=["i", "d"])
    cand = cand.with_columns(
        u=pl.Series(rng.random(cand.height)), key=pl.Series(rng.random(cand.height))
    )
    click_p = pl.col("channel").replace_strict(CLICK_PROB, return_dtype=pl.Float64)
    clicks = (
        cand.filter(pl.col("u") < click_p)
        .sort("s", "key")
        .group_by("s", maintain_order=True)
        .first()
        .select("s", "channel", "campaign_id")
    )
    sessions = sessions.join(clicks, on="s", how="left").with_columns(
        touch_type=pl.when(pl.col("channel").is_null())
        .then(pl.lit("visit"))
        .otherwise(pl.lit("click")),
        channel=pl.col("channel").fill_null("direct"),
    )
    touches = pl.concat(
        [
            exp.select("i", "d", "sec", "channel", "campaign_id", "touch_type"),
            sessions.select("i", "d", "sec", "channel", "campaign_id", "touch_type"),
        ]
    ).with_columns(touched_at=_ts("d", "sec"))
    return touches, orders.with_columns(as_of=_ts("d", "sec"))


def _ts(day: str, sec: str) -> pl.Expr:
    us = pl.lit(int(START.timestamp() * 1e6)) + pl.col(day) * DAY_US + pl.col(sec) * 1_000_000
    return us.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _journeys(touches: pl.DataFrame, orders: pl.DataFrame, days: int):
    """Each order closes its customer's journey (touches since the previous order); touches after
    the last order form the open journey, ending at the end of the data."""
    orders = orders.sort("i", "as_of").with_columns(
        n=pl.int_range(pl.len()).over("i"), customer_id="C" + pl.col("i").cast(pl.Utf8)
    )
    orders = orders.with_columns(journey_id=pl.col("customer_id") + "|" + pl.col("n").cast(pl.Utf8))
    t = touches.sort("i", "touched_at").join_asof(
        orders.select("i", "as_of", "journey_id").sort("i", "as_of"),
        left_on="touched_at",
        right_on="as_of",
        by="i",
        strategy="forward",
        check_sortedness=False,  # sorted within each customer, as join_asof needs
    )
    t = t.with_columns(
        journey_id=pl.coalesce("journey_id", "C" + pl.col("i").cast(pl.Utf8) + "|open")
    )
    end = START.timestamp() * 1e6 + days * DAY_US - 1
    open_j = (
        t.filter(pl.col("journey_id").str.ends_with("|open"))
        .group_by("journey_id", "i")
        .agg()
        .select(
            "journey_id",
            converted=pl.lit(False),
            revenue=pl.lit(0.0),
            customer_id="C" + pl.col("i").cast(pl.Utf8),
            as_of=pl.lit(int(end)).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        )
    )
    outcomes = pl.concat(
        [
            orders.select(
                "journey_id",
                converted=pl.lit(True),
                revenue="revenue",
                customer_id="customer_id",
                as_of="as_of",
            ),
            open_j,
        ]
    ).sort("journey_id")
    touches = t.select("journey_id", "touched_at", "channel", "campaign_id", "touch_type").sort(
        "journey_id", "touched_at"
    )
    return touches, outcomes


def _features(g: dict[str, np.ndarray], n: int, days: int) -> pl.DataFrame:
    """Daily customer snapshots at each day's end: orders to date, days since the last order,
    visits in the last 7 days, and (post-treatment, must not be used) days since the last
    marketing touch."""
    buys = np.cumsum(g["buy"], axis=1)
    visits = np.cumsum(g["visits"], axis=1)
    visits_7d = visits - np.pad(visits, ((0, 0), (7, 0)))[:, :days]
    day = np.arange(days)

    def since(flag: np.ndarray) -> np.ndarray:
        last = np.where(flag, day[None, :], -1)
        last = np.maximum.accumulate(last, axis=1)
        return np.where(last >= 0, day[None, :] - last, 999)

    touched = g["exposed"].any(axis=2)
    i, d = np.meshgrid(np.arange(n), day, indexing="ij")
    return pl.DataFrame(
        {
            "i": i.ravel(),
            "d": d.ravel() + 1,
            "sec": np.zeros(i.size, dtype=np.int64),
            "orders_to_date": buys.ravel(),
            "days_since_last_order": since(g["buy"]).ravel(),
            "visits_7d": visits_7d.ravel(),
            "days_since_last_touch": since(touched).ravel(),
        }
    ).select(
        pl.exclude("i", "d", "sec"),
        customer_id="C" + pl.col("i").cast(pl.Utf8),
        event_timestamp=_ts("d", "sec"),
    )
