"""The send-time and personal-cap models on the warehouse's own data, and the gold tables the
campaign audiences read them from (gold.crm_send_times, gold.crm_personal_caps).

Send time: the customer's sessions (silver.int_sessions__attributed) by local hour of the week,
time zones from gold.dim_customers. Caps: every CRM message sent (silver.int_touches__conformed,
touch_type 'send'), its response (an 'open' touch of the same campaign and customer within
RESPONSE_HOURS; on a channel that records no opens, a session within RESPONSE_HOURS) and the
opt-out that followed it (the customer's marketing consent turning false in
silver.int_customers__history within OPT_OUT_HOURS of their last message), fitted per channel
with the channel's cap (config.FREQUENCY_CAPS) as the ceiling; segments: the browsing type of
gold.customer_segments (one segment for everyone without it)."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl

from dagster_project.lib.campaigns.config import FREQUENCY_CAPS
from dagster_project.lib.crm.caps import fit_caps
from dagster_project.lib.crm.send_time import HOURS_OF_WEEK, SendTimeModel, fit_send_times
from dagster_project.lib.warehouse import has_table

SEND_TIMES_TABLE = "gold.crm_send_times"
CAPS_TABLE = "gold.crm_personal_caps"
RESPONSE_HOURS = 48
OPT_OUT_HOURS = 48
NO_SEGMENT = "all"


def fit_warehouse_send_times(
    con: duckdb.DuckDBPyConnection, business_tz: str = "Asia/Seoul"
) -> SendTimeModel | None:
    """The send-time model of every customer of gold.dim_customers from their sessions; None
    when the data has no sessions (an orders-only export): nothing to learn the hours from."""
    activity = con.sql(
        "select customer_id, started_at from silver.int_sessions__attributed"
        " where customer_id is not null and started_at is not null"
    ).pl()
    if activity.is_empty():
        return None
    customers = con.sql("select customer_id, time_zone from gold.dim_customers").pl()
    return fit_send_times(activity, customers, business_tz)


def model_from_table(table: pl.DataFrame) -> SendTimeModel:
    """The model back from gold.crm_send_times (SendTimeModel.table(): the posterior over the
    168 hours of the week is stored, so a campaign can pick the best hour inside its window).
    A customer missing from it (signed up after the fit) gets the population's distribution:
    the activity-weighted mean of the posteriors."""
    posterior = np.asarray(table["p_hour_of_week"].to_numpy(), dtype=np.float32).reshape(
        table.height, HOURS_OF_WEEK
    )
    n = table["n_activity"].to_numpy().astype(np.float64)
    prior = (n[:, None] * posterior).sum(axis=0) + 1e-9
    w = table["prior_weight"].to_numpy()
    seen = n > 0  # prior_weight = b / (n + b)
    b = float(np.median(w[seen] * n[seen] / (1 - w[seen]))) if seen.any() else 0.0
    return SendTimeModel(table["customer_id"], posterior, n, prior / prior.sum(), b)


def read_send_time_model(con: duckdb.DuckDBPyConnection) -> SendTimeModel | None:
    """gold.crm_send_times as a model, or None when it was not built."""
    if not has_table(con, SEND_TIMES_TABLE):
        return None
    return model_from_table(con.sql(f"select * from {SEND_TIMES_TABLE} order by customer_id").pl())


MESSAGES_SQL = f"""
with sends as (
    select touch_id, customer_id, channel, campaign_id, touched_at as sent_at
    from silver.int_touches__conformed
    where touch_type = 'send' and channel in ({", ".join(f"'{c}'" for c in FREQUENCY_CAPS)})
),
opens as (
    select customer_id, campaign_id, touched_at as opened_at
    from silver.int_touches__conformed where touch_type = 'open'
),
channels_with_opens as (
    select distinct channel from silver.int_touches__conformed where touch_type = 'open'
),
opened as (
    select distinct s.touch_id from sends as s join opens as o
        on o.customer_id = s.customer_id and o.campaign_id = s.campaign_id
        and o.opened_at >= s.sent_at
        and o.opened_at < s.sent_at + interval {RESPONSE_HOURS} hour
),
visited as (
    select distinct s.touch_id from sends as s join silver.int_sessions__attributed as v
        on v.customer_id = s.customer_id and v.started_at >= s.sent_at
        and v.started_at < s.sent_at + interval {RESPONSE_HOURS} hour
    where s.channel not in (select channel from channels_with_opens)
),
versions as (
    select customer_id, valid_from, has_marketing_consent,
        lag(has_marketing_consent) over (
            partition by customer_id order by valid_from, version_number
        ) as had_consent
    from silver.int_customers__history
),
opt_outs as (
    select customer_id, valid_from as opted_out_at from versions
    where had_consent and not has_marketing_consent
),
blamed as (  -- an opt-out is the response to the customer's last message before it
    select s.touch_id from sends as s join opt_outs as o
        on o.customer_id = s.customer_id and s.sent_at <= o.opted_out_at
        and s.sent_at > o.opted_out_at - interval {OPT_OUT_HOURS} hour
    qualify row_number() over (
        partition by o.customer_id, o.opted_out_at order by s.sent_at desc, s.touch_id desc
    ) = 1
)
select s.customer_id, s.channel, s.sent_at,
    s.touch_id in (select touch_id from opened)
        or s.touch_id in (select touch_id from visited) as is_opened,
    s.touch_id in (select touch_id from blamed) as is_opt_out
from sends as s
order by s.channel, s.customer_id, s.sent_at, s.touch_id
"""


def warehouse_messages(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """customer_id, channel, sent_at, is_opened, is_opt_out: one row per CRM message sent."""
    return con.sql(MESSAGES_SQL).pl()


def warehouse_segments(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """customer_id, segment: the browsing type (the caps model's prior is per segment)."""
    if has_table(con, "gold.customer_segments"):
        return con.sql(
            f"select c.customer_id, coalesce(s.browsing_type, '{NO_SEGMENT}') as segment"
            " from gold.dim_customers as c left join gold.customer_segments as s"
            " using (customer_id)"
        ).pl()
    return con.sql(f"select customer_id, '{NO_SEGMENT}' as segment from gold.dim_customers").pl()


def caps_table(messages: pl.DataFrame, segments: pl.DataFrame) -> pl.DataFrame:
    """gold.crm_personal_caps: one row per customer and channel with messages on record (a
    channel without any keeps the channel cap alone): the fit_caps table with its channel, beta
    and slope. max_sends lies between 1 and the channel's cap."""
    parts = []
    for channel in sorted(messages["channel"].unique().to_list()):
        sends = messages.filter(pl.col("channel") == channel)
        model = fit_caps(sends, segments, FREQUENCY_CAPS[channel][0])
        parts.append(
            model.table.with_columns(
                channel=pl.lit(channel),
                beta=pl.lit(model.beta),
                opt_out_slope=pl.lit(model.slope),
            )
        )
    if not parts:
        return pl.DataFrame(
            schema={
                "customer_id": pl.String,
                "channel": pl.String,
                "max_sends": pl.Int64,
                "window_days": pl.Int64,
            }
        )
    return pl.concat(parts).select("customer_id", "channel", pl.exclude("customer_id", "channel"))


def read_personal_caps(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """gold.crm_personal_caps (customer_id, channel, max_sends, window_days), None if not built."""
    if not has_table(con, CAPS_TABLE):
        return None
    return con.sql(
        f"select customer_id, channel, max_sends, window_days from {CAPS_TABLE}"
        " order by channel, customer_id"
    ).pl()


def write_table(con: duckdb.DuckDBPyConnection, qualified: str, frame: pl.DataFrame) -> None:
    con.register("frame", frame)
    con.execute(f"create or replace table {qualified} as select * from frame")
    con.unregister("frame")
