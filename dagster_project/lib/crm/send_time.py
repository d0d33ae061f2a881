"""Send-time optimization: for each customer, the hour of the week a message is most likely to be
acted on, from their own activity by hour of the week, shrunk to the population's.

Model (empirical Bayes, Dirichlet-multinomial): a customer's activity hours are draws from their
own distribution over the 168 hours of the week, p_i ~ Dirichlet(a * p0), with p0 the
population's hour-of-week distribution. The posterior mean is

    p_i(h) = (n_ih + a p0(h)) / (n_i + a)

so a customer with a few sessions stays near the population rhythm and one with many follows
their own. Counts are first spread over the neighbouring hours (weights SMOOTH, circular over
the week): someone active at 20:00 is likely active at 21:00, and this lets sparse histories
vote for a peak rather than an hour. The prior strength ``a`` is fitted by maximum marginal
likelihood over a grid (``PRIOR_GRID``; the Dirichlet-multinomial likelihood of every
customer's counts), not tuned by hand.

A send is chosen as the hour of the send day, inside the campaign's window, with the highest
p_i(h); hours from 21:00 to 08:00 only for customers with night consent (audience.is_night).
Activity is the customer's own sessions (organic and marketed alike: a session is the customer
being there); hours are local to the customer's time zone (the business zone when unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

import numpy as np
import polars as pl
from scipy.special import gammaln

HOURS_OF_WEEK = 168
SMOOTH = (0.1, 0.2, 0.4, 0.2, 0.1)  # two hours before .. two hours after
PRIOR_GRID = tuple(float(x) for x in np.geomspace(0.5, 200, 24))
NIGHT_HOURS = frozenset([*range(21, 24), *range(0, 8)])  # config.NIGHT_START..NIGHT_END


class SendTimeError(ValueError):
    """Bad input to the send-time model (the message names the input and the rule)."""


@dataclass
class SendTimeModel:
    customer_id: pl.Series  # sorted ids
    posterior: np.ndarray  # (N, 168) float32, rows sum to 1
    n_activity: np.ndarray  # (N,) sessions counted
    prior: np.ndarray  # (168,) population distribution
    prior_strength: float

    def table(self) -> pl.DataFrame:
        """One row per customer: activity count, the weight of the prior in their estimate,
        the best hour of the week and its posterior probability, and the whole posterior."""
        best = self.posterior.argmax(axis=1)
        return pl.DataFrame(
            {
                "customer_id": self.customer_id,
                "n_activity": self.n_activity.astype(np.int64),
                "prior_weight": self.prior_strength / (self.n_activity + self.prior_strength),
                "best_hour_of_week": best.astype(np.int64),
                "best_hour_p": self.posterior[np.arange(best.size), best].astype(np.float64),
                "p_hour_of_week": pl.Series(self.posterior, dtype=pl.Array(pl.Float32, 168)),
            }
        )


def hour_of_week(ts: pl.Expr, tz: pl.Expr | str) -> pl.Expr:
    """Monday 00:00 = 0 ... Sunday 23:00 = 167, of UTC timestamps in the zone ``tz``."""
    if isinstance(tz, str):
        local = ts.dt.convert_time_zone(tz)
        return (local.dt.weekday() - 1) * 24 + local.dt.hour()
    raise SendTimeError("hour_of_week: one zone per call (group customers by time_zone)")


def activity_counts(
    activity: pl.DataFrame, customers: pl.DataFrame, business_tz: str = "Asia/Seoul"
) -> tuple[pl.Series, np.ndarray]:
    """(sorted customer ids, (N, 168) counts) of ``activity`` (customer_id, started_at UTC)."""
    for col in ("customer_id", "started_at"):
        if col not in activity.columns:
            raise SendTimeError(f"activity: missing column {col!r} (customer_id, started_at)")
    ids = customers.select(pl.col("customer_id").cast(pl.String)).unique().sort("customer_id")
    index = ids.with_row_index("row")
    zones = (
        customers.select("customer_id", pl.col("time_zone").cast(pl.String).fill_null(business_tz))
        if "time_zone" in customers.columns
        else customers.select("customer_id", time_zone=pl.lit(business_tz))
    ).unique("customer_id")
    ts = pl.col("started_at")
    act = activity.select(pl.col("customer_id").cast(pl.String), "started_at")
    if (
        act.schema["started_at"] == pl.Datetime("us")
        or getattr(act.schema["started_at"], "time_zone", None) is None
    ):
        act = act.with_columns(ts.dt.replace_time_zone("UTC"))
    act = act.join(index, on="customer_id").join(zones, on="customer_id", how="left")
    counts = np.zeros((ids.height, HOURS_OF_WEEK), dtype=np.float64)
    for (tz,), part in act.group_by("time_zone"):  # one pass per zone, not per customer
        how = part.select(hour_of_week(pl.col("started_at"), tz or business_tz)).to_series()
        np.add.at(counts, (part["row"].to_numpy(), how.to_numpy()), 1.0)
    return ids["customer_id"], counts


def smooth(counts: np.ndarray, period: int = HOURS_OF_WEEK) -> np.ndarray:
    """Spread each count over the neighbouring hours (SMOOTH, circular over ``period``)."""
    half = len(SMOOTH) // 2
    out = np.zeros_like(counts)
    for k, w in enumerate(SMOOTH):
        out += w * np.roll(counts, k - half, axis=1)
    return out


def fit_prior_strength(counts: np.ndarray, prior: np.ndarray) -> float:
    """The Dirichlet concentration a maximising the marginal likelihood of every row of
    integer counts under Dirichlet(a * prior) (``prior``: one row, or one row per customer);
    only non-zero cells contribute to the sum over hours."""
    n = counts.sum(axis=1)
    rows, cols = np.nonzero(counts)
    c = counts[rows, cols]
    base = prior[cols] if prior.ndim == 1 else prior[rows, cols]
    best, best_ll = PRIOR_GRID[0], -np.inf
    for a in PRIOR_GRID:
        ap = a * base
        ll = float(np.sum(gammaln(a) - gammaln(a + n)) + np.sum(gammaln(ap + c) - gammaln(ap)))
        if ll > best_ll:
            best, best_ll = a, ll
    return best


def fit_send_times(
    activity: pl.DataFrame,
    customers: pl.DataFrame,
    business_tz: str = "Asia/Seoul",
    prior_strength: float | None = None,
) -> SendTimeModel:
    """The posterior hour-of-week distribution of every customer in ``customers``.

    Two levels, each shrunk by empirical Bayes: the customer's hour of day over all days
    (24 cells, much denser than 168) towards the population's, then their hour of the week
    towards that profile (the same hours on every day, so a weekend shift needs evidence)."""
    ids, raw = activity_counts(activity, customers, business_tz)
    if raw.sum() == 0:
        raise SendTimeError("activity: no session of any listed customer; nothing to learn from")
    by_hour = raw.reshape(raw.shape[0], 7, 24).sum(axis=1)
    pop_hour = smooth(by_hour.sum(axis=0, keepdims=True), 24)[0] + 1.0
    pop_hour /= pop_hour.sum()
    a = fit_prior_strength(by_hour, pop_hour)
    m = by_hour.sum(axis=1, keepdims=True)
    q = (smooth(by_hour, 24) + a * pop_hour[None, :]) / (m + a)  # (N, 24)
    q_week = np.tile(q, (1, 7)) / 7.0  # the same profile on every day of the week
    b = prior_strength if prior_strength is not None else fit_prior_strength(raw, q_week)
    n = raw.sum(axis=1, keepdims=True)
    post = ((smooth(raw) + b * q_week) / (n + b)).astype(np.float32)
    pop_week = raw.sum(axis=0) + 1.0
    return SendTimeModel(ids, post, raw.sum(axis=1), pop_week / pop_week.sum(), b)


def raw_argmax(activity: pl.DataFrame, customers: pl.DataFrame, business_tz: str = "Asia/Seoul"):
    """The naive per-customer rule (no smoothing, no prior): the hour of the week they were
    most often active, ties and empty histories to the population's mode. For comparisons."""
    ids, raw = activity_counts(activity, customers, business_tz)
    pop = raw.sum(axis=0)
    scored = raw + 1e-6 * pop[None, :] / max(pop.max(), 1.0)
    return SendTimeModel(
        ids,
        (scored / scored.sum(axis=1, keepdims=True)).astype(np.float32),
        raw.sum(axis=1),
        pop / pop.sum(),
        0.0,
    )


def window_hours(start: time, end: time) -> list[int]:
    """Local hours h with start <= h:00 < end (a window may wrap past midnight)."""
    s, e = start.hour, end.hour + (1 if end.minute else 0)
    if s == e:
        return list(range(24))
    return [h % 24 for h in range(s, e if e > s else e + 24)]


def best_hours(
    model: SendTimeModel,
    customers: pl.DataFrame,
    send_date: date,
    window: tuple[time, time],
) -> pl.DataFrame:
    """customer_id, send_hour (local), p_send_hour: the best hour of ``send_date`` inside
    ``window`` for each customer of ``customers`` (customer_id, has_night_consent); night hours
    only with night consent (a window entirely at night gives the others no hour: null). A
    customer the model does not know gets the population's best."""
    hours = window_hours(*window)
    dow = send_date.weekday()
    who = customers.select(
        pl.col("customer_id").cast(pl.String),
        pl.col("has_night_consent").fill_null(False).cast(pl.Boolean),
    )
    index = pl.DataFrame({"customer_id": model.customer_id}).with_row_index("row")
    who = who.join(index, on="customer_id", how="left")
    rows = who["row"].to_numpy(allow_copy=True)
    known = ~who["row"].is_null().to_numpy()
    p = np.tile(model.prior.astype(np.float32), (who.height, 1))
    if known.any():
        p[known] = model.posterior[rows[known].astype(np.int64)]
    cols = dow * 24 + np.asarray(hours)
    sub = p[:, cols]
    allowed = np.ones((who.height, len(hours)), dtype=bool)
    night = np.isin(hours, sorted(NIGHT_HOURS))
    allowed[~who["has_night_consent"].to_numpy()] &= ~night
    scored = np.where(allowed, sub, -1.0)
    j = scored.argmax(axis=1)
    ok = allowed[np.arange(j.size), j]
    return pl.DataFrame(
        {
            "customer_id": who["customer_id"],
            "send_hour": pl.Series(np.asarray(hours)[j], dtype=pl.Int64),
            "p_send_hour": sub[np.arange(j.size), j].astype(np.float64),
        }
    ).with_columns(
        pl.when(pl.Series(ok)).then(pl.col("send_hour")).alias("send_hour"),
        pl.when(pl.Series(ok)).then(pl.col("p_send_hour")).alias("p_send_hour"),
    )
