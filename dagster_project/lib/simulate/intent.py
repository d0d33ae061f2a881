"""Event-driven intent: a bookmark or an abandoned cart raises the chance of buying that product
for a few days, more so if the customer is reminded of it.

A trigger is one (customer, product, business day, kind) with kind ``bookmark`` (a bookmark
event) or ``cart`` (an add-to-cart whose session has no purchase of that product); several
bookmarks of one product on one day are one trigger. On each of the INTENT_DAYS days after the
trigger day the customer buys that product with the hazard

    h(t) = INTENT_BASE[kind] * exp(-(t - d - 1) / INTENT_DECAY_DAYS)      t = d+1 .. d+INTENT_DAYS

times REMINDER_MULT[kind] on the days after a reminder about the product reached them (a message
sent on day r acts from day r + 1, as the day loop's CRM messages do; a reminder sent before the
trigger or after its window does nothing). The first day whose counter-based uniform
``Streams.uniform("intent", kind, i, product, d, t)`` falls below h(t) is the intent purchase; the
trigger is spent after it. The outcome is thus a fixed function of the trigger's coordinates and
the reminder day: re-simulating any reminder policy (``outcomes``) uses common random numbers, and
``truth/trigger_intent`` gives, per trigger, the exact probability of the purchase without a
message and with one sent on the trigger day (the triggered send) or on any later day.

Fresh intent is worth most: the hazard halves in ~1.4 days, so a message the day of the event
acts on the whole window, one sent at the next weekly batch on what is left of it (nothing for a
trigger older than INTENT_DAYS). The intent purchases are not written to the raw tables: the
factual world is the world without reminders, and its data is unchanged by this module."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from ._rng import Streams

INTENT_DAYS = 5
INTENT_DECAY_DAYS = 2.0
KINDS = ("bookmark", "cart")
# Daily purchase probability of the product on the day after the event: a cart is the stronger
# signal (~11 % buy it within 5 days, bookmarks ~5 %).
INTENT_BASE = {"bookmark": 0.02, "cart": 0.05}
# A reminder multiplies the remaining hazard: x2.5 for a bookmark, x1.8 for a cart (a cart buyer
# was closer to buying anyway).
REMINDER_MULT = {"bookmark": 2.5, "cart": 1.8}
NO_REMINDER = np.iinfo(np.int32).max  # a reminder day that never comes

TRIGGER_SCHEMA = {
    "kind": pl.String,
    "customer_id": pl.String,
    "product_id": pl.String,
    "trigger_day": pl.Int32,  # business day index (0 = the world's start date)
    "trigger_date": pl.Date,
    "first_at": pl.Datetime("us", "UTC"),  # the trigger's first event
}


def _days(hazard_mult: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """(n, INTENT_DAYS) hazards of triggers of ``kinds`` (0/1) under per-day multipliers."""
    base = np.array([INTENT_BASE[k] for k in KINDS])[kinds]
    shape = np.exp(-np.arange(INTENT_DAYS) / INTENT_DECAY_DAYS)
    return np.minimum(base[:, None] * shape[None, :] * hazard_mult, 1.0)


def _multipliers(kinds: np.ndarray, trigger_day: np.ndarray, reminder_day: np.ndarray):
    """(n, INTENT_DAYS) hazard multipliers: REMINDER_MULT on window days after the reminder."""
    mult = np.array([REMINDER_MULT[k] for k in KINDS])[kinds]
    t = trigger_day[:, None] + 1 + np.arange(INTENT_DAYS)[None, :]
    reminded = (reminder_day[:, None] >= trigger_day[:, None]) & (t > reminder_day[:, None])
    return np.where(reminded, mult[:, None], 1.0)


def purchase_probability(
    kinds: np.ndarray, trigger_day: np.ndarray, reminder_day: np.ndarray
) -> np.ndarray:
    """P(the intent purchase happens) per trigger, with a reminder on ``reminder_day``
    (NO_REMINDER: none)."""
    h = _days(_multipliers(kinds, trigger_day, reminder_day), kinds)
    return 1.0 - np.prod(1.0 - h, axis=1)


def trigger_events(
    events: pl.DataFrame, start_date, timezone: str, customers: pl.Series | None = None
) -> pl.DataFrame:
    """The triggers of a contract ``events`` table (bookmark; add_to_cart without a purchase of
    that product in the session), one row per (kind, customer, product, business day)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(start_date, datetime.min.time(), tzinfo=zone)
    ev = events.select("customer_id", "session_id", "occurred_at", "event_type", "product_id")
    bought = ev.filter(pl.col("event_type") == "purchase").select("session_id", "product_id")
    carts = (
        ev.filter(pl.col("event_type") == "add_to_cart")
        .join(bought, on=["session_id", "product_id"], how="anti")
        .with_columns(kind=pl.lit("cart"))
    )
    marks = ev.filter(pl.col("event_type") == "bookmark").with_columns(kind=pl.lit("bookmark"))
    both = pl.concat([marks, carts]).filter(pl.col("product_id").is_not_null())
    local_date = pl.col("occurred_at").dt.convert_time_zone(timezone).dt.date()
    out = (
        both.with_columns(trigger_date=local_date)
        .group_by("kind", "customer_id", "product_id", "trigger_date")
        .agg(first_at=pl.col("occurred_at").min())
        .with_columns(
            trigger_day=(pl.col("trigger_date") - pl.lit(start.date()))
            .dt.total_days()
            .cast(pl.Int32)
        )
    )
    if customers is not None:
        out = out.filter(pl.col("customer_id").is_in(customers.implode()))
    return (
        out.select(list(TRIGGER_SCHEMA))
        .cast(TRIGGER_SCHEMA)
        .sort("trigger_day", "kind", "customer_id", "product_id")
    )


def _index(values: pl.Series) -> np.ndarray:
    """The integer of an id such as C000123 / P00042 (the simulator's ids): a stable key."""
    return values.str.extract(r"(\d+)$").cast(pl.Int64).to_numpy()


def outcomes(st: Streams, triggers: pl.DataFrame, reminder_day: np.ndarray) -> np.ndarray:
    """The intent purchase day of each trigger (-1: none) with a reminder on ``reminder_day``,
    drawn on the trigger's own uniforms: the same numbers under every reminder policy."""
    kinds = (triggers["kind"] == "cart").cast(pl.Int8).to_numpy().astype(np.int64)
    day = triggers["trigger_day"].to_numpy().astype(np.int64)
    t = day[:, None] + 1 + np.arange(INTENT_DAYS)[None, :]
    u = st.uniform(
        "intent",
        kinds[:, None],
        _index(triggers["customer_id"])[:, None],
        _index(triggers["product_id"])[:, None],
        day[:, None],
        t,
    )
    h = _days(_multipliers(kinds, day, np.asarray(reminder_day, dtype=np.int64)), kinds)
    hit = u < h
    first = hit.argmax(axis=1)
    return np.where(hit.any(axis=1), day + 1 + first, -1)


def reminder_days(
    triggers: pl.DataFrame, sends: pl.DataFrame, start_date, timezone: str
) -> np.ndarray:
    """For each trigger, the business day of the first reminder about its product (``sends``:
    customer_id, product_id, sent_at UTC) sent on or after the trigger day and inside its window;
    NO_REMINDER where none. A reminder covers every trigger of that customer and product."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(start_date, datetime.min.time(), tzinfo=zone).date()
    s = sends.select(
        "customer_id",
        "product_id",
        send_day=(
            pl.col("sent_at").dt.replace_time_zone("UTC", non_existent="raise")
            if sends.schema["sent_at"] == pl.Datetime("us")
            else pl.col("sent_at")
        )
        .dt.convert_time_zone(timezone)
        .dt.date()
        .sub(pl.lit(start))
        .dt.total_days()
        .cast(pl.Int64),
    )
    keyed = triggers.select("customer_id", "product_id", "trigger_day").with_row_index("row")
    hit = (
        keyed.join(s, on=["customer_id", "product_id"], how="inner")
        .filter(
            pl.col("send_day").is_between(
                pl.col("trigger_day"), pl.col("trigger_day") + INTENT_DAYS - 1
            )
        )
        .group_by("row")
        .agg(pl.col("send_day").min())
    )
    out = np.full(triggers.height, NO_REMINDER, dtype=np.int64)
    out[hit["row"].to_numpy()] = hit["send_day"].to_numpy()
    return out


def intent_truth(events: pl.DataFrame, start_date, timezone: str) -> pl.DataFrame:
    """truth/trigger_intent: per trigger, P(buying the product in its window) without a message,
    with one on the trigger day, and with one on each of the next INTENT_DAYS - 1 days (the
    counterfactuals a batch send faces), and the true uplift of the triggered send."""
    return trigger_probabilities(trigger_events(events, start_date, timezone))


def trigger_probabilities(tr: pl.DataFrame) -> pl.DataFrame:
    """``trigger_events`` rows with their purchase probabilities (intent_truth's columns)."""
    kinds = (tr["kind"] == "cart").cast(pl.Int8).to_numpy().astype(np.int64)
    day = tr["trigger_day"].to_numpy().astype(np.int64)
    cols = {"p_without": purchase_probability(kinds, day, np.full(day.size, NO_REMINDER))}
    for lag in range(INTENT_DAYS):
        cols[f"p_with_day_{lag}"] = purchase_probability(kinds, day, day + lag)
    return tr.with_columns(
        **{k: pl.Series(v) for k, v in cols.items()},
        true_uplift=pl.Series(cols["p_with_day_0"] - cols["p_without"]),
    )
