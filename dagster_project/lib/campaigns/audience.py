"""Audiences: who a campaign goes to, and who is held out.

Order of the rules (each step's exclusions are counted in the funnel):
1. the segment rule;
2. marketing consent (a missing consent is no consent);
3. a send between 21:00 and 08:00 in the customer's time zone only with night-time consent;
4. frequency caps: a customer already sent `max_sends` messages on the channel within
   `window_days` before or after this send is left out. Counting both sides makes the cap hold
   for every window of that length that contains this send. Checked for every cap on the
   channel: the channel's default (config.FREQUENCY_CAPS), this campaign's own (which can only
   tighten) and those of campaigns planned before it, so a later campaign never breaks an
   earlier one's cap (any window that holds the earlier send and the new one lies within the
   earlier cap's window of the new send). A personal cap (`personal_caps`: customer_id,
   max_sends, window_days, from lib/crm/caps.py) is one more cap of the same kind, per customer:
   it can only tighten, the channel's cap stays the ceiling;
5. the eligible rest is split by a stable hash: holdout when hash_unit < holdout_share.

hash_unit = the first 60 bits of SHA-256("<campaign_id>:<customer_id>") / 2**60, computed by
DuckDB's `sha256` (the standard function, identical to Python's hashlib; tests check this), so
groups are the same on every re-run and every library version. Polars' `hash` is not used: its
values may change between Polars versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from dagster_project.lib.campaigns.config import FREQUENCY_CAPS, NIGHT_END, NIGHT_START, Campaign
from dagster_project.lib.campaigns.rules import rule_columns

HASH_BITS = 60
HISTORY_SCHEMA = {"customer_id": pl.String, "channel": pl.String, "sent_at": pl.Datetime("us")}


def hash_unit(campaign_id: str, customer_ids: pl.Series) -> pl.Series:
    """A number in [0, 1) per customer, fixed by (campaign, customer)."""
    con = duckdb.connect()
    try:
        frame = pl.DataFrame({"customer_id": customer_ids.cast(pl.String)})
        con.register("ids", frame)
        out = con.execute(
            "select ('0x' || left(sha256($1 || ':' || customer_id), 15))::ubigint::double"
            f" / {2.0**HASH_BITS} as hash_unit from ids",
            [campaign_id],
        ).pl()
    finally:
        con.close()
    return out["hash_unit"]


def is_night(local_time: pl.Expr) -> pl.Expr:
    """Local times from 21:00 up to (not including) 08:00."""
    return (local_time >= pl.lit(NIGHT_START)) | (local_time < pl.lit(NIGHT_END))


def send_times(
    customers: pl.DataFrame,
    campaign: Campaign,
    default_send_date: date,
    business_tz: str,
    send_hours: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """customer_id, time_zone, send_at (UTC, naive), send_local (naive local) and is_night_send.
    The time zone is the customer's `time_zone` column if present, else the business one.
    With `send_time: best_in_window`, `send_hours` (customer_id, send_hour: the local hour from
    lib/crm/send_time.best_hours, already respecting night consent) sets each customer's hour;
    a customer without one is sent at the window's start."""
    if campaign.send_mode == "best_in_window":
        return _personal_send_times(customers, campaign, default_send_date, business_tz, send_hours)
    zones = (
        customers.select(pl.col("time_zone").cast(pl.String).fill_null(business_tz))
        if "time_zone" in customers.columns
        else pl.DataFrame(
            {"time_zone": [business_tz] * customers.height}, schema={"time_zone": pl.String}
        )
    )
    rows = []
    for tz in zones["time_zone"].unique().sort().to_list():  # one row per zone, not per customer
        zone = ZoneInfo(tz)
        if campaign.send_at is not None:
            utc = campaign.send_at.astimezone(ZoneInfo("UTC"))
            local = campaign.send_at.astimezone(zone)
        else:
            naive = datetime.combine(campaign.send_date or default_send_date, campaign.send_time)
            local = naive.replace(tzinfo=zone)
            utc = local.astimezone(ZoneInfo("UTC"))
        rows.append(
            {
                "time_zone": tz,
                "send_at": utc.replace(tzinfo=None),
                "send_local": local.replace(tzinfo=None),
            }
        )
    table = pl.DataFrame(
        rows,
        schema={
            "time_zone": pl.String,
            "send_at": pl.Datetime("us"),
            "send_local": pl.Datetime("us"),
        },
    )
    return (
        customers.select("customer_id")
        .with_columns(zones["time_zone"])
        .join(table, on="time_zone", how="left")
        .with_columns(is_night_send=is_night(pl.col("send_local").dt.time()))
    )


def _personal_send_times(
    customers: pl.DataFrame,
    campaign: Campaign,
    default_send_date: date,
    business_tz: str,
    send_hours: pl.DataFrame | None,
) -> pl.DataFrame:
    if send_hours is None:
        raise ValueError(
            f"{campaign.source}: send_time best_in_window needs the send-time model "
            "(gold.crm_send_times): materialize it first"
        )
    day = datetime.combine(campaign.send_date or default_send_date, datetime.min.time())
    start = campaign.send_window[0].hour
    zone = (
        pl.col("time_zone").cast(pl.String).fill_null(business_tz)
        if "time_zone" in customers.columns
        else pl.lit(business_tz)
    )
    frame = (
        customers.select("customer_id", time_zone=zone)
        .join(send_hours.select("customer_id", "send_hour"), on="customer_id", how="left")
        .with_columns(
            send_local=pl.lit(day)
            + pl.duration(hours=pl.col("send_hour").fill_null(start).cast(pl.Int64))
        )
    )
    parts = []
    for (tz,), part in frame.group_by("time_zone", maintain_order=True):  # one per zone
        parts.append(
            part.with_columns(
                send_at=pl.col("send_local")
                .dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
                .dt.convert_time_zone("UTC")
                .dt.replace_time_zone(None)
            )
        )
    out = pl.concat(parts) if parts else frame.with_columns(send_at=pl.col("send_local"))
    return out.select(
        "customer_id",
        "time_zone",
        pl.col("send_at").cast(pl.Datetime("us")),
        pl.col("send_local").cast(pl.Datetime("us")),
    ).with_columns(is_night_send=is_night(pl.col("send_local").dt.time()))


@dataclass
class Audience:
    campaign: Campaign
    assignments: pl.DataFrame  # treatment and holdout, one row per customer
    funnel: dict[str, int] = field(default_factory=dict)

    @property
    def treatment(self) -> pl.DataFrame:
        return self.assignments.filter(pl.col("is_treatment"))

    def sends(self) -> pl.DataFrame:
        """This campaign's sends, in the frequency-cap history's shape."""
        return self.treatment.select("customer_id", "channel", "sent_at")


def _check_columns(campaign: Campaign, customers: pl.DataFrame) -> None:
    needed = rule_columns(campaign.segment) | {"has_marketing_consent", "has_night_consent"}
    if campaign.adaptive_by:
        needed.add(campaign.adaptive_by)  # adaptive shares are per value of this column
    missing = sorted(needed - set(customers.columns))
    if missing:
        raise ValueError(
            f"{campaign.source}: the customer table lacks column(s) {', '.join(missing)} "
            "(a score column needs gold.customer_scores; coupon_uplift needs "
            "gold.coupon_uplift_scores, written once the coupon uplift model passes its "
            "qini_above_random check; dip_* columns need gold.demand_dip_targets, from the "
            "demand forecast)"
        )


def build_audience(
    campaign: Campaign,
    customers: pl.DataFrame,
    history: pl.DataFrame,
    default_send_date: date,
    business_tz: str = "Asia/Seoul",
    extra_caps: tuple[tuple[int, int], ...] = (),
    personal_caps: pl.DataFrame | None = None,
    send_hours: pl.DataFrame | None = None,
    arm_shares: pl.DataFrame | None = None,
    send_number: int = 0,
) -> Audience:
    """The campaign's assignments (see the module docstring for the rules and their order).
    `extra_caps`: further (max_sends, window_days) caps on this channel that must keep holding,
    i.e. the channel's default and those of campaigns planned before this one.
    `personal_caps`: customer_id, max_sends, window_days (one window for all customers).
    `send_hours`: for `send_time: best_in_window` (see send_times). A multi-arm campaign's
    treated customers get an arm (lib/crm/arms.assign_arms): by the YAML's shares, or in
    adaptive mode by `arm_shares` (<adaptive_by>, arm_id, share) for send `send_number`."""
    _check_columns(campaign, customers)
    funnel = {"customers": customers.height}
    matched = customers.filter(campaign.segment_expr().fill_null(False))
    funnel["segment"] = matched.height
    consented = matched.filter(pl.col("has_marketing_consent").fill_null(False))
    funnel["excluded_no_consent"] = matched.height - consented.height

    timed = consented.join(
        send_times(consented, campaign, default_send_date, business_tz, send_hours),
        on="customer_id",
    )
    night_ok = timed.filter(~pl.col("is_night_send") | pl.col("has_night_consent").fill_null(False))
    funnel["excluded_night"] = timed.height - night_ok.height

    caps = sorted({(campaign.max_sends, campaign.cap_window_days), *extra_caps})
    personal_window = None
    if personal_caps is not None and personal_caps.height:
        windows = personal_caps["window_days"].unique().to_list()
        if len(windows) != 1:
            raise ValueError(f"personal_caps: one window_days for all customers, got {windows}")
        personal_window = int(windows[0])
        caps.append((0, personal_window))  # max_sends 0: the customer's own, joined below
    widest = timedelta(days=max(w for _, w in caps))
    nearby = (
        night_ok.select("customer_id", "send_at")
        .join(
            history.filter(pl.col("channel") == campaign.channel).select(
                "customer_id", prior_at="sent_at"
            ),
            on="customer_id",
            how="inner",
        )
        .with_columns(gap=(pl.col("prior_at") - pl.col("send_at")).abs())
        .filter(pl.col("gap") < widest)
        .group_by("customer_id")
        .agg(
            [
                (pl.col("gap") < timedelta(days=w)).sum().alias(f"nearby_{i}")
                for i, (_, w) in enumerate(caps)
            ]
        )
    )
    limits = [pl.lit(m) for m, _ in caps]
    candidates = night_ok.join(nearby, on="customer_id", how="left")
    if personal_window is not None:
        limits[-1] = pl.col("_personal_max").fill_null(2**31)
        candidates = candidates.join(
            personal_caps.select("customer_id", _personal_max=pl.col("max_sends")),
            on="customer_id",
            how="left",
        )
    under_every_cap = pl.all_horizontal(
        [pl.col(f"nearby_{i}").fill_null(0) < lim for i, lim in enumerate(limits)]
    )
    capped = (
        candidates.filter(under_every_cap)
        .drop(pl.selectors.starts_with("nearby_"))
        .drop("_personal_max", strict=False)
    )
    funnel["excluded_frequency_cap"] = night_ok.height - capped.height
    funnel["eligible"] = capped.height

    eligible = capped.sort("customer_id").with_columns(
        hash_unit=hash_unit(campaign.campaign_id, capped.sort("customer_id")["customer_id"])
    )
    coupon = campaign.coupon
    assignments = eligible.select(
        pl.lit(campaign.campaign_id).alias("campaign_id"),
        "customer_id",
        pl.when(pl.col("hash_unit") < campaign.holdout_share)
        .then(pl.lit("holdout"))
        .otherwise(pl.lit("treatment"))
        .alias("assignment_group"),
        (pl.col("hash_unit") >= campaign.holdout_share).alias("is_treatment"),
        "hash_unit",
        pl.lit(campaign.channel).alias("channel"),
        pl.lit(campaign.creative_id).alias("creative_id"),
        "time_zone",
        pl.col("send_at").alias("sent_at"),
        "send_local",
        "is_night_send",
        pl.lit(coupon.discount_type if coupon else None, pl.String).alias("coupon_type"),
        pl.lit(coupon.discount_value if coupon else None, pl.Float64).alias("coupon_value"),
        pl.lit(coupon.min_order_amount if coupon else None, pl.Float64).alias("coupon_min_order"),
        pl.lit(campaign.response_window_days, pl.Int64).alias("response_window_days"),
    )
    if campaign.arms:
        assignments = _with_arms(campaign, eligible, assignments, arm_shares, send_number)
    funnel["treatment"] = int(assignments["is_treatment"].sum())
    funnel["holdout"] = assignments.height - funnel["treatment"]
    return Audience(campaign, assignments, funnel)


def _with_arms(
    campaign: Campaign,
    eligible: pl.DataFrame,
    assignments: pl.DataFrame,
    arm_shares: pl.DataFrame | None,
    send_number: int,
) -> pl.DataFrame:
    """Each treated customer's arm, its creative and offer; the holdout's arm is 'holdout'."""
    from dagster_project.lib.crm.arms import HOLDOUT, assign_arms

    arms = [a.arm_id for a in campaign.arms]
    by = campaign.adaptive_by
    # Fixed shares, and the first send of an adaptive test (no shares learned yet): the YAML's.
    per_segment = by is not None and arm_shares is not None
    treated = assignments.filter("is_treatment").select("customer_id")
    if per_segment:
        treated = treated.join(eligible.select("customer_id", by), on="customer_id", how="left")
    picked = assign_arms(
        campaign.campaign_id,
        treated,
        arms,
        arm_shares if per_segment else [a.share for a in campaign.arms],
        send=send_number if by else 0,
        by=by if per_segment else None,
    ).select("customer_id", "arm_id")
    table = pl.DataFrame(
        {
            "arm_id": arms,
            "_creative": [a.creative_id for a in campaign.arms],
            "_ctype": [a.coupon.discount_type if a.coupon else None for a in campaign.arms],
            "_cvalue": [a.coupon.discount_value if a.coupon else None for a in campaign.arms],
            "_cmin": [a.coupon.min_order_amount if a.coupon else None for a in campaign.arms],
        },
        schema_overrides={"_ctype": pl.String, "_cvalue": pl.Float64, "_cmin": pl.Float64},
    )
    out = assignments.join(picked, on="customer_id", how="left", maintain_order="left").join(
        table, on="arm_id", how="left", maintain_order="left"
    )
    return out.with_columns(
        pl.col("arm_id").fill_null(HOLDOUT),
        pl.coalesce("_creative", "creative_id").alias("creative_id"),
        pl.coalesce("_ctype", "coupon_type").alias("coupon_type"),
        pl.coalesce("_cvalue", "coupon_value").alias("coupon_value"),
        pl.coalesce("_cmin", "coupon_min_order").alias("coupon_min_order"),
    ).drop("_creative", "_ctype", "_cvalue", "_cmin")


def _first_send(campaign: Campaign, default_send_date: date, business_tz: str) -> datetime:
    if campaign.send_at is not None:
        return campaign.send_at.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    local = datetime.combine(campaign.send_date or default_send_date, campaign.send_time)
    return (
        local.replace(tzinfo=ZoneInfo(business_tz)).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    )


def plan_campaigns(
    campaigns: list[Campaign],
    customers: pl.DataFrame,
    history: pl.DataFrame,
    default_send_date: date,
    business_tz: str = "Asia/Seoul",
    personal_caps: pl.DataFrame | None = None,
    send_model=None,
) -> dict[str, Audience]:
    """Audiences for several campaigns, in send order (then campaign id): each campaign's sends
    join the history the next ones are capped against. The result for a campaign depends only on
    the campaign files, the customers, the history and the two models, not on which asset runs
    first. Triggered campaigns (`trigger:`) are left out: their ticks plan them (triggers.py).
    `personal_caps` (customer_id, channel, max_sends, window_days; gold.crm_personal_caps): each
    customer's cap on the campaign's channel, under the channel's. `send_model`
    (lib/crm/send_time.SendTimeModel; gold.crm_send_times): the hours of `send_time:
    best_in_window` campaigns."""
    campaigns = [c for c in campaigns if c.trigger is None]
    ids = [c.campaign_id for c in campaigns]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        sources = [c.source for c in campaigns if c.campaign_id in duplicated]
        raise ValueError(f"campaign id(s) {duplicated} used by more than one file: {sources}")
    ordered = sorted(
        campaigns, key=lambda c: (_first_send(c, default_send_date, business_tz), c.campaign_id)
    )
    sent = history.select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)
    caps = {ch: {cap} for ch, cap in FREQUENCY_CAPS.items()}
    out: dict[str, Audience] = {}
    for campaign in ordered:  # a handful of campaigns; each step is vectorized
        channel_caps = caps.setdefault(campaign.channel, set())
        audience = build_audience(
            campaign,
            customers,
            sent,
            default_send_date,
            business_tz,
            tuple(channel_caps),
            personal_caps=channel_personal_caps(personal_caps, campaign.channel),
            send_hours=_best_hours(send_model, campaign, customers, default_send_date),
        )
        channel_caps.add((campaign.max_sends, campaign.cap_window_days))
        out[campaign.campaign_id] = audience
        sent = pl.concat([sent, audience.sends().cast(HISTORY_SCHEMA)])
    return out


def channel_personal_caps(personal_caps: pl.DataFrame | None, channel: str) -> pl.DataFrame | None:
    """The personal caps of one channel (None: no personal caps)."""
    if personal_caps is None:
        return None
    return personal_caps.filter(pl.col("channel") == channel).select(
        "customer_id", "max_sends", "window_days"
    )


def _best_hours(
    send_model, campaign: Campaign, customers: pl.DataFrame, default_send_date: date
) -> pl.DataFrame | None:
    """Each customer's best local hour of the send date inside the campaign's window (night
    hours only with night consent), for `send_time: best_in_window`; None otherwise."""
    if campaign.send_mode != "best_in_window" or send_model is None:
        return None  # without a model, send_times says which asset to materialize
    from dagster_project.lib.crm.send_time import best_hours

    day = campaign.send_date or default_send_date
    return best_hours(send_model, customers, day, campaign.send_window)


def empty_history() -> pl.DataFrame:
    return pl.DataFrame(schema=HISTORY_SCHEMA)
