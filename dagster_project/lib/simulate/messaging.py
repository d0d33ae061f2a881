"""How each customer responds to a message: the truth behind send times, personal caps and
creative tests (issue 16).

Planted per customer (stream ``messaging``, counter-based, so a customer's truth is a fixed
function of the seed and the customer index):

- **active hours**: a weight per hour of the week (168), mean 1 over the week. It is the
  customer's population-shaped daily rhythm (``params.HOUR_WEIGHTS``) sharpened around a personal
  peak hour (drawn from that rhythm; the weekend peak 0-3 h later), with a personal
  concentration. Sessions of the world start at hours drawn from it (``world._Builder.tod``), and
  a message's chance of being opened is the customer's fresh open rate x the weight of the hour
  it arrives in (capped at ``MAX_OPEN``).
- **message tolerance**: T messages in any 7 days (``FATIGUE_WINDOW_DAYS``), 1 + Poisson around
  the segment's mean. The n-th message of a 7-day window (n counted with it) beyond T is
  opened with probability x exp(-FATIGUE_RATE (n - T)), and causes an opt-out with probability
  OPT_OUT_BASE + OPT_OUT_PER_EXCESS (n - T); within T, opt-outs are rare (OPT_OUT_BASE).
- **creatives and offers**: ``CREATIVE_LIFT[segment, creative]``, the chance that an opened
  message of that creative brings an order that would not have happened: different per segment
  (new arrivals win with meticulous browsers, the 10,000 KRW coupon with mania, the 5,000 KRW
  coupon with easygoing ones).

The segment here is the latent archetype (``params.ARCHETYPES``).

``MessageLab`` delivers messages day by day and returns each one's outcome on keyed uniforms
(customer, day, the message's ordinal that day): a policy re-simulated on the same world draws
the same numbers, so the difference between two policies is their effect, exactly. Orders that
would happen anyway (``base_conversion``) are keyed by (customer, day) and do not depend on
messages; a measured conversion is base or caused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from ._rng import Streams
from .entities import Customers
from .params import ARCHETYPES, HOUR_WEIGHTS

HOURS_OF_WEEK = 168
SEGMENTS = ARCHETYPES
CREATIVES = ("plain", "new_arrivals", "coupon_5000", "coupon_10000")
# P(an incremental order | opened), per segment (rows) and creative (columns).
CREATIVE_LIFT = np.array(
    [
        [0.04, 0.12, 0.06, 0.07],  # meticulous: new arrivals
        [0.05, 0.08, 0.08, 0.15],  # mania: the big coupon
        [0.02, 0.03, 0.10, 0.07],  # easygoing: the small coupon (a bigger one adds nothing)
    ]
)
OPEN_BASE = (0.16, 0.20, 0.12)  # fresh open rate at a week-average hour, per segment
TOLERANCE_MEAN = (3.0, 5.0, 1.6)  # messages per 7 days before fatigue, per segment
FATIGUE_WINDOW_DAYS = 7
FATIGUE_RATE = 0.6
OPT_OUT_BASE = 0.001
OPT_OUT_PER_EXCESS = 0.03
MAX_OPEN = 0.9
PEAK_SHARPNESS = (1.0, 3.5)  # concentration kappa ~ U(low, high) around the personal peak
WEEKEND_SHIFT = (0, 4)  # weekend peak = weekday peak + U{0..3} hours
RESPONSE_WINDOW_DAYS = 7
NEVER = np.iinfo(np.int32).max


@dataclass
class MessagingTruth:
    segment: np.ndarray  # (N,) int, index into SEGMENTS
    hour_weight: np.ndarray  # (N, 168) float32, mean 1 per customer; hour of week = dow*24 + h
    peak_hour: np.ndarray  # (N,) weekday peak hour (local)
    weekend_peak_hour: np.ndarray  # (N,)
    tolerance: np.ndarray  # (N,) int messages per FATIGUE_WINDOW_DAYS
    open_base: np.ndarray  # (N,) fresh open rate
    daily_order_prob: np.ndarray  # (N,) chance of an order on a day without any message

    @property
    def n(self) -> int:
        return self.segment.size


def build_truth(st: Streams, cust: Customers) -> MessagingTruth:
    n = cust.n
    ids = np.arange(n)
    u = lambda k: st.uniform("messaging", 0, k, ids)  # noqa: E731 - one key per trait
    w_pop = np.asarray(HOUR_WEIGHTS, dtype=float)
    cdf = np.cumsum(w_pop / w_pop.sum())
    peak = np.minimum(np.searchsorted(cdf, u(0), side="right"), 23)
    shift = WEEKEND_SHIFT[0] + (u(1) * (WEEKEND_SHIFT[1] - WEEKEND_SHIFT[0])).astype(int)
    weekend_peak = (peak + shift) % 24
    kappa = PEAK_SHARPNESS[0] + u(2) * (PEAK_SHARPNESS[1] - PEAK_SHARPNESS[0])
    hours = np.arange(24)
    shape = np.log(w_pop / w_pop.mean())  # the population rhythm, weakly
    weights = np.empty((n, HOURS_OF_WEEK), dtype=np.float32)
    for dow in range(7):  # 7 vectorized blocks
        p = np.where(dow >= 5, weekend_peak, peak)[:, None]
        bump = kappa[:, None] * (np.cos(2 * np.pi * (hours[None, :] - p) / 24) - 1)
        weights[:, dow * 24 : (dow + 1) * 24] = np.exp(0.3 * shape[None, :] + bump)
    weights /= weights.mean(axis=1, keepdims=True)
    seg = cust.archetype.astype(np.int64)
    tol_mean = np.asarray(TOLERANCE_MEAN)[seg]
    # 1 + Poisson(mean - 1) by the inverse CDF of a keyed uniform.
    lam = tol_mean - 1
    k = np.zeros(n, dtype=np.int64)
    term = np.exp(-lam)
    cum = term.copy()
    uu = u(3)
    for j in range(1, 20):
        k += uu > cum
        term = term * lam / j
        cum = cum + term
    open_base = np.asarray(OPEN_BASE)[seg] * np.exp(0.25 * st.normal("messaging", 0, 4, ids))
    daily = cust.visit_rate * cust.p_view * cust.p_cart * cust.p_buy
    return MessagingTruth(
        segment=seg,
        hour_weight=weights,
        peak_hour=peak.astype(np.int64),
        weekend_peak_hour=weekend_peak.astype(np.int64),
        tolerance=1 + k,
        open_base=np.minimum(open_base, 0.6),
        daily_order_prob=np.asarray(daily, dtype=float),
    )


def activity_hours(truth: MessagingTruth, st: Streams, i: np.ndarray, dow: np.ndarray, key):
    """The local hour of an activity of customers ``i`` on weekdays ``dow``, from their active
    hours (keyed by ``key``, one integer per activity)."""
    i, dow = np.asarray(i, dtype=np.int64), np.asarray(dow, dtype=np.int64)
    cols = dow[:, None] * 24 + np.arange(24)[None, :]
    w = truth.hour_weight[i[:, None], cols]
    cdf = np.cumsum(w, axis=1)
    u = st.uniform("messaging", 1, key) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), 23)


def truth_tables(truth: MessagingTruth, customer_id: np.ndarray) -> dict[str, pl.DataFrame]:
    """truth/messaging_customers (one row per customer) and truth/messaging_creatives (one row
    per segment and creative)."""
    best = truth.hour_weight.argmax(axis=1)
    customers = pl.DataFrame(
        {
            "customer_id": customer_id,
            "segment": np.asarray(SEGMENTS)[truth.segment],
            "peak_hour_weekday": truth.peak_hour,
            "peak_hour_weekend": truth.weekend_peak_hour,
            "best_hour_of_week": best.astype(np.int64),
            "best_hour_weight": truth.hour_weight.max(axis=1).astype(np.float64),
            "message_tolerance_7d": truth.tolerance.astype(np.int64),
            "open_rate_fresh": truth.open_base.astype(np.float64),
        }
    ).sort("customer_id")
    seg, cre = np.meshgrid(np.arange(len(SEGMENTS)), np.arange(len(CREATIVES)), indexing="ij")
    lift = CREATIVE_LIFT[seg.ravel(), cre.ravel()]
    creatives = pl.DataFrame(
        {
            "segment": np.asarray(SEGMENTS)[seg.ravel()],
            "creative_id": np.asarray(CREATIVES)[cre.ravel()],
            "p_order_given_open": lift,
        }
    ).with_columns(
        is_best_in_segment=pl.col("p_order_given_open")
        == pl.col("p_order_given_open").max().over("segment")
    )
    return {"messaging_customers": customers, "messaging_creatives": creatives}


def fatigue(n_in_window: np.ndarray, tolerance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(open multiplier, opt-out probability) of the n-th message of a 7-day window."""
    excess = np.maximum(0, n_in_window - tolerance)
    return np.exp(-FATIGUE_RATE * excess), OPT_OUT_BASE + OPT_OUT_PER_EXCESS * excess


OUTCOME_SCHEMA = {
    "i": pl.Int64,
    "d": pl.Int64,
    "hour_of_week": pl.Int64,
    "creative": pl.Int64,
    "n_in_window": pl.Int64,
    "opened": pl.Boolean,
    "caused_order": pl.Boolean,
    "converted": pl.Boolean,
    "opted_out": pl.Boolean,
}


class MessageLab:
    """Messages delivered day by day on ``days`` days; the outcome of each is drawn from keyed
    uniforms, so two labs on the same truth and streams share every random number.
    A message to a customer who opted out before is refused (counted in ``refused``)."""

    def __init__(self, truth: MessagingTruth, st: Streams, days: int):
        self.truth, self.st, self.days = truth, st, days
        self.sent = np.zeros((truth.n, days), dtype=np.int16)
        self.opted_out_day = np.full(truth.n, NEVER, dtype=np.int64)
        self.refused = 0
        self.log: list[pl.DataFrame] = []

    def base_conversion(self, i: np.ndarray, d: np.ndarray) -> np.ndarray:
        """An order in the response window after day ``d`` without any message (keyed by
        customer and day)."""
        p = 1 - (1 - self.truth.daily_order_prob[i]) ** RESPONSE_WINDOW_DAYS
        return self.st.uniform("messaging", 2, i, d) < p

    def deliver(
        self, d: int, i: np.ndarray, hour_of_week: np.ndarray, creative: np.ndarray
    ) -> pl.DataFrame:
        """Messages of day ``d`` to customers ``i`` (several per customer allowed, in order),
        arriving at ``hour_of_week`` with ``creative`` (index into CREATIVES)."""
        t = self.truth
        i = np.asarray(i, dtype=np.int64)
        how = np.broadcast_to(np.asarray(hour_of_week, dtype=np.int64), i.shape)
        cre = np.broadcast_to(np.asarray(creative, dtype=np.int64), i.shape)
        ok = self.opted_out_day[i] > d
        self.refused += int((~ok).sum())
        i, how, cre = i[ok], how[ok], cre[ok]
        order = np.lexsort((how, i))  # within a day, messages arrive in hour order
        i, how, cre = i[order], how[order], cre[order]
        first = np.r_[True, i[1:] != i[:-1]]
        start = np.flatnonzero(first)
        ordinal = np.arange(i.size) - np.repeat(start, np.diff(np.r_[start, i.size]))
        lo = max(0, d - FATIGUE_WINDOW_DAYS + 1)
        before = self.sent[i, lo:d].sum(axis=1).astype(np.int64) if d > lo else 0
        n_in_window = before + ordinal + 1
        mult, p_opt = fatigue(n_in_window, t.tolerance[i])
        p_open = np.minimum(t.open_base[i] * t.hour_weight[i, how] * mult, MAX_OPEN)
        opened = self.st.uniform("messaging", 3, i, d, ordinal) < p_open
        lift = CREATIVE_LIFT[t.segment[i], cre]
        caused = opened & (self.st.uniform("messaging", 4, i, d, ordinal) < lift)
        opted = self.st.uniform("messaging", 5, i, d, ordinal) < p_opt
        # Messages after an opt-out the same day are not delivered.
        out_rank = np.where(opted, ordinal, NEVER)
        first_out = np.minimum.reduceat(out_rank, start) if i.size else out_rank
        keep = ordinal <= np.repeat(first_out, np.diff(np.r_[start, i.size]))
        i, how, cre, n_in_window = i[keep], how[keep], cre[keep], n_in_window[keep]
        opened, caused, opted = opened[keep], caused[keep], opted[keep]
        np.add.at(self.sent[:, d], i, 1)
        self.opted_out_day[i[opted]] = d + 1
        out = pl.DataFrame(
            {
                "i": i,
                "d": np.full(i.size, d),
                "hour_of_week": how,
                "creative": cre,
                "n_in_window": n_in_window,
                "opened": opened,
                "caused_order": caused,
                "converted": caused | self.base_conversion(i, np.full(i.size, d)),
                "opted_out": opted,
            },
            schema=OUTCOME_SCHEMA,
        )
        self.log.append(out)
        return out

    def outcomes(self) -> pl.DataFrame:
        return pl.concat(self.log) if self.log else pl.DataFrame(schema=OUTCOME_SCHEMA)
