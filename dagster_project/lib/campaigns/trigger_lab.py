"""Triggered reminders against the same reminders sent as a weekly batch, re-simulated in a
simulated world (simulate/intent.py: a bookmark or abandoned cart raises the chance of buying
the product for 5 days, more after a reminder; the outcome of a trigger is a fixed function of
its own random numbers and the reminder day, so both policies and no reminder at all are
compared on the same numbers).

1. The platform's own ticks (triggers.run_ticks) run hourly over the world's last `weeks` weeks
   with the shipped triggered campaigns (campaigns/push_bookmark_reminder.yml and
   push_cart_reminder.yml): consent, night-time consent, caps and holdout as in production.
2. Triggered policy: those messages at the time the ticks sent them. Batch policy: the very
   same messages (customer, product) at the next weekly send, Monday 10:00 business time.
3. Per trigger of a messaged (customer, product), the intent purchase with the policy's reminder
   day and without any (intent.outcomes, common random numbers), and the exact probabilities
   (intent.purchase_probability). Incremental orders per message sent, with a 95 % bootstrap
   interval over customers (the unit the holdout randomises)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from dagster_project.lib.campaigns import triggers
from dagster_project.lib.campaigns.audience import HISTORY_SCHEMA
from dagster_project.lib.campaigns.config import Campaign
from dagster_project.lib.simulate import intent

BATCH_WEEKDAY, BATCH_TIME = 0, time(10, 0)  # Monday 10:00, business time
BOOTSTRAP = 1000


@dataclass
class LabResult:
    table: pl.DataFrame  # one row per policy: messages, incremental orders (expected, realized), CI
    messages: pl.DataFrame  # the ticks' treatment messages (customer_id, product_id, sent_at)
    ticks: int


def world_inputs(world) -> tuple[triggers.TriggerData, pl.DataFrame]:
    """TriggerData and the audience customers (consent columns) of a simulated World."""
    t = world.tables
    products = t["products"].select("product_id", "category_l1")
    events = (
        t["events"]
        .select(
            "event_id",
            "session_id",
            "customer_id",
            occurred_at=pl.col("occurred_at")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None),
            event_type="event_type",
            product_id="product_id",
        )
        .join(products, on="product_id", how="left")
        .sort("occurred_at", "event_id")
    )
    first = (
        t["orders"]
        .group_by("customer_id")
        .agg(first_ordered_at=pl.col("ordered_at").min())
        .with_columns(
            pl.col("first_ordered_at").dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        )
    )
    types = set(events["event_type"].unique())
    data = triggers.TriggerData(events, first, types, world.config.timezone)
    customers = t["customers"].select(
        "customer_id",
        has_marketing_consent="marketing_opt_in",
        has_night_consent="night_opt_in",
        time_zone="time_zone",
    )
    return data, customers


def run_hourly_ticks(
    campaigns: list[Campaign], data, customers, start: datetime, end: datetime
) -> tuple[pl.DataFrame, int]:
    """The treatment messages of hourly ticks from `start` to `end` (naive UTC)."""
    log, sent, out, n = triggers.empty_log(), pl.DataFrame(schema=HISTORY_SCHEMA), [], 0
    at = start
    while at <= end:  # one tick an hour, as the sensor would run them; each tick is vectorized
        for tick in triggers.run_ticks(campaigns, data, customers, sent, log, at).values():
            log = pl.concat([log, tick.log])
            sent = pl.concat([sent, tick.audience.sends().cast(HISTORY_SCHEMA)])
            treated = tick.audience.treatment.select("customer_id", "sent_at")
            out.append(
                treated.join(tick.triggers, on="customer_id").select(
                    "customer_id", "product_id", "sent_at", "trigger_event"
                )
            )
        at += timedelta(hours=1)
        n += 1
    return pl.concat(out), n


def next_batch(sent_at: pl.Series, tz: str) -> pl.Series:
    """The next Monday 10:00 (business time) at or after each send, as naive UTC."""
    local = pl.col("sent_at").dt.replace_time_zone("UTC").dt.convert_time_zone(tz)
    days = (BATCH_WEEKDAY - (local.dt.weekday() - 1)) % 7
    at = local.dt.truncate("1d") + pl.duration(days=days, hours=BATCH_TIME.hour)
    at = pl.when(at < local).then(at + pl.duration(days=7)).otherwise(at)
    out = pl.DataFrame({"sent_at": sent_at}).select(
        at.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    )
    return out.to_series()


def evaluate(world, campaigns: list[Campaign], weeks: int = 8, seed: int = 0) -> LabResult:
    from dagster_project.lib.simulate._rng import Streams

    cfg = world.config
    data, customers = world_inputs(world)
    zone = ZoneInfo(cfg.timezone)
    end = (
        datetime.combine(cfg.end_date, time(0), zone)
        .astimezone(ZoneInfo("UTC"))
        .replace(tzinfo=None)
    )
    start = end - timedelta(weeks=weeks)
    messages, n_ticks = run_hourly_ticks(
        campaigns, data, customers, start, end - timedelta(hours=1)
    )
    batch = messages.with_columns(sent_at=next_batch(messages["sent_at"], cfg.timezone))
    tr = intent.trigger_events(world.tables["events"], cfg.start_date, cfg.timezone)
    tr = tr.join(
        messages.select("customer_id", "product_id").unique(),
        on=["customer_id", "product_id"],
        how="semi",
    )
    st = Streams(cfg.seed)
    kinds = (tr["kind"] == "cart").cast(pl.Int8).to_numpy().astype(np.int64)
    day = tr["trigger_day"].to_numpy().astype(np.int64)
    none = np.full(tr.height, intent.NO_REMINDER, dtype=np.int64)
    base_out = intent.outcomes(st, tr, none) >= 0
    base_p = intent.purchase_probability(kinds, day, none)
    cust_idx = tr["customer_id"].rank("dense").cast(pl.Int64).to_numpy() - 1
    n_cust = int(cust_idx.max()) + 1 if tr.height else 0
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n_cust, np.full(n_cust, 1 / n_cust), size=BOOTSTRAP) if n_cust else None
    rows, per_policy = [], {}
    for name, sends in (("triggered", messages), ("weekly batch", batch)):
        rem = intent.reminder_days(tr, sends, cfg.start_date, cfg.timezone)
        gain = (intent.outcomes(st, tr, rem) >= 0).astype(float) - base_out
        expected = intent.purchase_probability(kinds, day, rem) - base_p
        # Gains and messages summed per customer (sorted ids, as cust_idx): the bootstrap
        # resamples customers.
        g = np.bincount(cust_idx, weights=gain, minlength=n_cust)
        per_c_msgs = (
            tr.select("customer_id")
            .unique()
            .sort("customer_id")
            .join(sends.group_by("customer_id").len(), on="customer_id", how="left")["len"]
            .fill_null(0)
            .to_numpy()
            .astype(float)
        )
        boot = (draws @ g) / (draws @ per_c_msgs)
        per_policy[name] = (g, per_c_msgs)
        rows.append(
            {
                "policy": name,
                "messages": sends.height,
                "triggers_covered": int((rem != intent.NO_REMINDER).sum()),
                "incremental_orders_expected": float(expected.sum()),
                "incremental_orders_realized": float(gain.sum()),
                "per_message_expected": float(expected.sum() / max(sends.height, 1)),
                "per_message_realized": float(gain.sum() / max(sends.height, 1)),
                "ci_low": float(np.quantile(boot, 0.025)),
                "ci_high": float(np.quantile(boot, 0.975)),
            }
        )
    (g1, m1), (g2, m2) = per_policy["triggered"], per_policy["weekly batch"]
    diff = (draws @ g1) / (draws @ m1) - (draws @ g2) / (draws @ m2)
    rows.append(
        {
            "policy": "triggered - batch",
            "messages": 0,
            "triggers_covered": 0,
            "incremental_orders_expected": rows[0]["incremental_orders_expected"]
            - rows[1]["incremental_orders_expected"],
            "incremental_orders_realized": rows[0]["incremental_orders_realized"]
            - rows[1]["incremental_orders_realized"],
            "per_message_expected": rows[0]["per_message_expected"]
            - rows[1]["per_message_expected"],
            "per_message_realized": rows[0]["per_message_realized"]
            - rows[1]["per_message_realized"],
            "ci_low": float(np.quantile(diff, 0.025)),
            "ci_high": float(np.quantile(diff, 0.975)),
        }
    )
    return LabResult(pl.DataFrame(rows), messages, n_ticks)
