"""Triggered campaigns: a campaign file with `trigger:` instead of `send:` is sent to each
customer shortly after something happens, by a tick that runs over the new events.

```yaml
trigger:
  event: bookmark        # see EVENTS
  delay: 1h              # wait this long after the event (30m, 2h, 1d; default 0m)
  valid_for: 24h         # a trigger not sent by event + delay + valid_for expires (default 24h)
  within_hours: 24       # cart_abandoned: no purchase of the carted product for this long
  min_views: 3           # category_views: views of one category on one business day
  days_ahead: 3          # holiday_ahead: the trigger fires at 00:00 this many days before
  country: KR            # holiday_ahead: the `holidays` package's country code
  min_precipitation_mm: 5  # weather: rain of at least this much on the day in the customer's region
  temp_drop_c: 5         # weather: the day's mean temperature this much below the day before's
  bookmark_days: 30      # price_drop: the product was bookmarked at most this many days before
  min_drop_pct: 10       # price_drop: marked down by at least this many percent
```

A tick at `as_of` (default: the newest event in the data) takes every trigger due by then
(event + delay, for an abandoned cart event + within_hours + delay) and not yet expired, drops
those already decided (the trigger log, store.TRIGGER_TABLE: no customer is triggered twice for
the same event) and hands the customers to `audience.build_audience` with the send at `as_of`:
the same segment, consent, night-time consent, frequency caps (every cap on the channel, against
every send on record, planned batch sends included) and stable hash holdout as a batch campaign.
A customer with several due triggers gets one message per tick, about the earliest; the others
are logged as superseded. The export carries the triggering product and
category. Every decided trigger (treatment, holdout, or excluded and why) goes to the log."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from dagster_project.lib.campaigns.audience import Audience, build_audience, channel_personal_caps
from dagster_project.lib.campaigns.config import FREQUENCY_CAPS, Campaign, CampaignError

# Trigger event -> the data it needs (the contract table, and the event types in it).
EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "bookmark": ("events", ("bookmark",)),
    "cart_abandoned": ("events", ("add_to_cart", "purchase")),
    "category_views": ("events", ("view",)),
    "first_purchase_anniversary": ("orders", ()),
    "holiday_ahead": ("calendar", ()),
    "weather": ("weather", ()),
    "price_drop": ("product_prices", ("bookmark",)),
}
KEYS = {
    "event",
    "delay",
    "valid_for",
    "within_hours",
    "min_views",
    "days_ahead",
    "country",
    "min_precipitation_mm",
    "temp_drop_c",
    "bookmark_days",
    "min_drop_pct",
}
WEATHER_KEYS = ("min_precipitation_mm", "temp_drop_c")
DURATION = re.compile(r"(\d+)\s*(m|h|d)")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}
LOG_SCHEMA = {
    "campaign_id": pl.String,
    "trigger_key": pl.String,
    "customer_id": pl.String,
    "trigger_event": pl.String,
    "event_at": pl.Datetime("us"),
    "product_id": pl.String,
    "category_l1": pl.String,
    "outcome": pl.String,  # treatment, holdout, excluded_by_audience_rules, expired, superseded
    "decided_at": pl.Datetime("us"),
}
CANDIDATE_SCHEMA = {
    "customer_id": pl.String,
    "trigger_key": pl.String,
    "event_at": pl.Datetime("us"),  # naive UTC
    "due_at": pl.Datetime("us"),
    "product_id": pl.String,
    "category_l1": pl.String,
}


@dataclass(frozen=True)
class Trigger:
    event: str
    delay: timedelta
    valid_for: timedelta
    within_hours: int = 24
    min_views: int = 3
    days_ahead: int = 3
    country: str = "KR"
    min_precipitation_mm: float | None = None  # weather: rain, at least this much
    temp_drop_c: float | None = None  # weather: below the day before's mean by this much
    bookmark_days: int = 30  # price_drop: bookmarked at most this many days before the drop
    min_drop_pct: float = 10.0  # price_drop: marked down by at least this many percent

    @property
    def valid_span(self) -> timedelta:
        """How far before a tick a trigger's event can lie and still be due and valid, plus a
        day, so that triggers that expired between two ticks are logged as expired."""
        wait = timedelta(hours=self.within_hours) if self.event == "cart_abandoned" else timedelta()
        return wait + self.delay + self.valid_for + timedelta(days=1)

    @property
    def lookback(self) -> timedelta:
        """How much event history a tick reads: the valid span, and for a price drop the
        bookmarks of the days before it too."""
        before = timedelta(days=self.bookmark_days) if self.event == "price_drop" else timedelta()
        return self.valid_span + before


def _duration(value: Any, field: str, source: str) -> timedelta:
    m = DURATION.fullmatch(str(value).strip())
    if not m:
        raise CampaignError(f"{source}: {field} {value!r} is a duration like 30m, 2h or 1d")
    return timedelta(**{UNITS[m.group(2)]: int(m.group(1))})


def _count(raw: dict, key: str, default: int, low: int, high: int, source: str) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CampaignError(f"{source}: trigger.{key} must be an integer in [{low}, {high}]")
    return value


def _amount(raw: dict, key: str, source: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1000:
        raise CampaignError(f"{source}: trigger.{key} must be a number in (0, 1000]")
    return float(value)


def _percent(raw: dict, key: str, default: float, source: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 100:
        raise CampaignError(f"{source}: trigger.{key} must be a percentage in (0, 100)")
    return float(value)


def parse_trigger(raw: Any, source: str) -> Trigger:
    """The `trigger:` mapping of a campaign file; every error names the file and the field."""
    if not isinstance(raw, dict):
        raise CampaignError(f"{source}: trigger is a mapping with event, delay and valid_for")
    unknown = set(raw) - KEYS
    if unknown:
        raise CampaignError(f"{source}: unknown trigger key(s) {sorted(unknown)} ({sorted(KEYS)})")
    event = raw.get("event")
    if event not in EVENTS:
        raise CampaignError(f"{source}: trigger.event {event!r} is not one of {', '.join(EVENTS)}")
    country = str(raw.get("country", "KR"))
    if event == "holiday_ahead":
        import holidays

        if country not in holidays.list_supported_countries():
            raise CampaignError(
                f"{source}: trigger.country {country!r} is not a country code "
                "the holidays package knows"
            )
    amounts = {key: _amount(raw, key, source) for key in WEATHER_KEYS}
    if event == "weather" and not any(v is not None for v in amounts.values()):
        raise CampaignError(
            f"{source}: trigger.event 'weather' needs trigger.min_precipitation_mm (rain) "
            "and/or trigger.temp_drop_c (a temperature drop)"
        )
    return Trigger(
        event=event,
        delay=_duration(raw.get("delay", "0m"), "trigger.delay", source),
        valid_for=_duration(raw.get("valid_for", "24h"), "trigger.valid_for", source),
        within_hours=_count(raw, "within_hours", 24, 1, 24 * 30, source),
        min_views=_count(raw, "min_views", 3, 1, 1000, source),
        days_ahead=_count(raw, "days_ahead", 3, 0, 60, source),
        country=country,
        bookmark_days=_count(raw, "bookmark_days", 30, 1, 365, source),
        min_drop_pct=_percent(raw, "min_drop_pct", 10.0, source),
        **amounts,
    )


@dataclass
class TriggerData:
    """What ticks read: events (customer_id, event_id, session_id, occurred_at naive UTC,
    event_type, product_id, category_l1), first orders (customer_id, first_ordered_at), the
    event types the whole events table has (for the missing-data error), the daily weather
    per region (date, region, precipitation_mm, mean_temp_c) and the price changes (product_id,
    valid_from naive UTC, drop_pct; empty when none is recent); None: the data has no such
    table."""

    events: pl.DataFrame
    first_orders: pl.DataFrame
    event_types: set[str]
    business_tz: str = "Asia/Seoul"
    weather: pl.DataFrame | None = None
    price_changes: pl.DataFrame | None = None


def check_data(
    campaign: Campaign, data: TriggerData, customers: pl.DataFrame | None = None
) -> None:
    """A trigger on data this warehouse does not have: an error naming the file and field."""
    table, types = EVENTS[campaign.trigger.event]
    if table == "weather" and data.weather is None:
        raise CampaignError(
            f"{campaign.source}: trigger.event 'weather' needs the optional weather table "
            "(weather.csv or weather/ in the raw folder: date, region, precipitation_mm, "
            "mean_temp_c), and the data has no weather"
        )
    if table == "weather" and customers is not None and "region" not in customers.columns:
        raise CampaignError(
            f"{campaign.source}: trigger.event 'weather' needs each customer's region "
            "(customers.region), and the customers have none"
        )
    if table == "product_prices" and data.price_changes is None:
        raise CampaignError(
            f"{campaign.source}: trigger.event 'price_drop' needs the optional product_prices "
            "table (product_prices.csv or product_prices/ in the raw folder: product_id, "
            "valid_from, price_krw), and the data has no price history"
        )
    missing = [t for t in types if t not in data.event_types]
    if table in ("events", "product_prices") and missing:
        raise CampaignError(
            f"{campaign.source}: trigger.event {campaign.trigger.event!r} needs {missing} events, "
            f"which the events data does not have (event types present: "
            f"{sorted(data.event_types) or 'none'})"
        )
    if table == "orders" and data.first_orders.is_empty():
        raise CampaignError(
            f"{campaign.source}: trigger.event {campaign.trigger.event!r} needs orders, "
            "and the orders data is empty"
        )


def _key(*parts: pl.Expr) -> pl.Expr:
    return pl.concat_str([p.cast(pl.String) for p in parts], separator="|")


def candidates(
    trigger: Trigger,
    data: TriggerData,
    since: datetime,
    as_of: datetime,
    customer_ids: pl.Series | None = None,
    regions: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The triggers whose event lies in [since, as_of] (naive UTC), with when they are due.
    ``customer_ids``: who a calendar trigger (holiday_ahead) fires for (default: every customer
    in the data); ``regions``: customer_id, region for the weather trigger."""
    ev = data.events.filter(pl.col("occurred_at").is_between(since, as_of))
    if trigger.event == "bookmark":
        out = ev.filter(pl.col("event_type") == "bookmark").select(
            "customer_id",
            trigger_key=pl.col("event_id"),
            event_at="occurred_at",
            due_at=pl.col("occurred_at") + trigger.delay,
            product_id="product_id",
            category_l1="category_l1",
        )
    elif trigger.event == "cart_abandoned":
        wait = timedelta(hours=trigger.within_hours)
        carts = ev.filter(pl.col("event_type") == "add_to_cart")
        buys = data.events.filter(
            pl.col("event_type") == "purchase", pl.col("occurred_at") >= since
        ).select("customer_id", "product_id", bought_at="occurred_at")
        # A purchase of the carted product within the wait cancels the trigger.
        cancelled = (
            carts.join(buys, on=["customer_id", "product_id"])
            .filter(
                pl.col("bought_at").is_between(pl.col("occurred_at"), pl.col("occurred_at") + wait)
            )
            .select("event_id")
            .unique()
        )
        out = carts.join(cancelled, on="event_id", how="anti").select(
            "customer_id",
            trigger_key=pl.col("event_id"),
            event_at="occurred_at",
            due_at=pl.col("occurred_at") + wait + trigger.delay,
            product_id="product_id",
            category_l1="category_l1",
        )
    elif trigger.event == "category_views":
        day = (
            pl.col("occurred_at")
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone(data.business_tz)
            .dt.date()
        )
        views = (
            ev.filter(pl.col("event_type") == "view", pl.col("category_l1").is_not_null())
            .with_columns(event_date=day)
            .sort("occurred_at", "event_id")
            .with_columns(
                n=pl.int_range(1, pl.len() + 1).over("customer_id", "category_l1", "event_date")
            )
        )
        # Counted inside the tick's window: a day cut by `since` counts from `since` on.
        out = views.filter(pl.col("n") == trigger.min_views).select(
            "customer_id",
            trigger_key=_key(pl.col("customer_id"), pl.col("category_l1"), pl.col("event_date")),
            event_at="occurred_at",
            due_at=pl.col("occurred_at") + trigger.delay,
            product_id=pl.lit(None, pl.String),
            category_l1="category_l1",
        )
    elif trigger.event == "first_purchase_anniversary":
        # The window is shorter than a year: the anniversary in it is this year's or last year's.
        first = data.first_orders.with_columns(year=pl.col("first_ordered_at").dt.year())
        out = pl.concat(
            [
                first.with_columns(k=as_of.year - back - pl.col("year")).filter(pl.col("k") >= 1)
                for back in (0, 1)
            ]
        ).select(
            "customer_id",
            trigger_key=_key(pl.col("customer_id"), pl.lit("anniversary"), pl.col("k")),
            event_at=pl.col("first_ordered_at").dt.offset_by(pl.format("{}y", pl.col("k"))),
            product_id=pl.lit(None, pl.String),
            category_l1=pl.lit(None, pl.String),
        )
        out = out.filter(pl.col("event_at").is_between(since, as_of)).with_columns(
            due_at=pl.col("event_at") + trigger.delay
        )
    elif trigger.event == "weather":
        out = _weather_candidates(trigger, data, since, as_of, regions)
    elif trigger.event == "price_drop":
        out = _price_drop_candidates(trigger, data, since, as_of)
    else:  # holiday_ahead
        out = _holiday_candidates(trigger, data, since, as_of, customer_ids)
    return out.select(list(CANDIDATE_SCHEMA)).cast(CANDIDATE_SCHEMA)


def _holiday_candidates(
    trigger: Trigger, data: TriggerData, since: datetime, as_of: datetime, customer_ids
):
    """Each customer once per holiday whose eve (00:00 business time, days_ahead days before)
    falls in [since, as_of]."""
    from zoneinfo import ZoneInfo

    import holidays

    zone = ZoneInfo(data.business_tz)
    days = holidays.country_holidays(trigger.country, years=range(since.year, as_of.year + 2))
    rows = []
    for day, name in sorted(days.items()):  # a few holidays a year, not rows of data
        at = datetime.combine(day - timedelta(days=trigger.days_ahead), datetime.min.time(), zone)
        at = at.astimezone(UTC).replace(tzinfo=None)
        if since <= at <= as_of:
            rows.append({"holiday_date": day, "event_at": at, "holiday": name})
    hol = pl.DataFrame(
        rows, schema={"holiday_date": pl.Date, "event_at": pl.Datetime("us"), "holiday": pl.String}
    )
    who = (
        pl.concat([data.events.select("customer_id"), data.first_orders.select("customer_id")])
        if customer_ids is None
        else pl.DataFrame({"customer_id": customer_ids})
    ).unique()
    return who.join(hol, how="cross").select(
        "customer_id",
        trigger_key=_key(pl.col("customer_id"), pl.lit("holiday"), pl.col("holiday_date")),
        event_at="event_at",
        due_at=pl.col("event_at") + trigger.delay,
        product_id=pl.lit(None, pl.String),
        category_l1=pl.lit(None, pl.String),
    )


def _weather_days(trigger: Trigger, weather: pl.DataFrame) -> pl.DataFrame:
    """date, region of the days whose weather meets the trigger: rain of at least
    min_precipitation_mm, or a mean temperature temp_drop_c or more below the region's day
    before (a missing day before is no drop). Either condition that is set fires it."""
    day_before = weather.select(
        "region", date=pl.col("date") + pl.duration(days=1), temp_before="mean_temp_c"
    )
    w = weather.join(day_before, on=["region", "date"], how="left")
    fires = pl.lit(False)
    if trigger.min_precipitation_mm is not None:
        fires = fires | (pl.col("precipitation_mm") >= trigger.min_precipitation_mm).fill_null(
            False
        )
    if trigger.temp_drop_c is not None:
        drop = pl.col("temp_before") - pl.col("mean_temp_c")
        fires = fires | (drop >= trigger.temp_drop_c).fill_null(False)
    return w.filter(fires).select("date", "region")


def _weather_candidates(
    trigger: Trigger, data: TriggerData, since: datetime, as_of: datetime, regions
) -> pl.DataFrame:
    """Each customer once per day whose weather in their region meets the trigger, at 00:00
    business time of that day (the day's figures: a weather forecast for days ahead)."""
    assert data.weather is not None and regions is not None  # check_data said so
    midnight = (
        pl.col("date")
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone(data.business_tz)
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )
    days = (
        _weather_days(trigger, data.weather)
        .with_columns(event_at=midnight)
        .filter(pl.col("event_at").is_between(since, as_of))
    )
    return regions.join(days, on="region").select(
        "customer_id",
        trigger_key=_key(pl.col("customer_id"), pl.lit("weather"), pl.col("date")),
        event_at="event_at",
        due_at=pl.col("event_at") + trigger.delay,
        product_id=pl.lit(None, pl.String),
        category_l1=pl.lit(None, pl.String),
    )


def _price_drop_candidates(
    trigger: Trigger, data: TriggerData, since: datetime, as_of: datetime
) -> pl.DataFrame:
    """Each customer once per markdown (of at least min_drop_pct) of a product they bookmarked
    in the bookmark_days before it and have not bought since, at the markdown's start. Only
    markdowns whose bookmark days lie inside the events read (from ``since``) are considered."""
    assert data.price_changes is not None  # check_data said so
    window = timedelta(days=trigger.bookmark_days)
    drops = data.price_changes.filter(
        pl.col("drop_pct") >= trigger.min_drop_pct / 100,
        pl.col("valid_from").is_between(since + window, as_of),
    ).select("product_id", event_at="valid_from")
    marks = data.events.filter(pl.col("event_type") == "bookmark").select(
        "customer_id", "product_id", "category_l1", marked_at="occurred_at"
    )
    buys = data.events.filter(pl.col("event_type") == "purchase").select(
        "customer_id", "product_id", bought_at="occurred_at"
    )
    marked = drops.join(marks, on="product_id").filter(
        pl.col("marked_at").is_between(pl.col("event_at") - window, pl.col("event_at"))
    )
    # A purchase of the product between the bookmark and the markdown: nothing left to remind.
    bought = (
        marked.join(buys, on=["customer_id", "product_id"])
        .filter(pl.col("bought_at").is_between(pl.col("marked_at"), pl.col("event_at")))
        .select("customer_id", "product_id", "marked_at")
    )
    return (
        marked.join(bought, on=["customer_id", "product_id", "marked_at"], how="anti")
        .group_by("customer_id", "product_id", "event_at")
        .agg(pl.col("category_l1").first())
        .select(
            "customer_id",
            trigger_key=_key(
                pl.col("customer_id"),
                pl.col("product_id"),
                pl.col("event_at").dt.strftime("%Y-%m-%dT%H:%M:%S"),
            ),
            event_at="event_at",
            due_at=pl.col("event_at") + trigger.delay,
            product_id="product_id",
            category_l1="category_l1",
        )
    )


@dataclass
class Tick:
    """One tick of one triggered campaign: the audience of this tick's sends (as a batch
    campaign's), the trigger of each assigned customer, and the log rows of every decision."""

    campaign: Campaign
    audience: Audience
    triggers: (
        pl.DataFrame
    )  # customer_id, trigger_key, trigger_event, event_at, product_id, category_l1
    log: pl.DataFrame  # LOG_SCHEMA
    funnel: dict[str, int]

    def export_products(self) -> pl.DataFrame:
        """The columns the export adds to each message: the triggering product and category."""
        return self.triggers.select(
            "customer_id", "trigger_event", "trigger_key", "product_id", "category_l1"
        )


def run_tick(
    campaign: Campaign,
    data: TriggerData,
    customers: pl.DataFrame,
    history: pl.DataFrame,
    decided: pl.DataFrame,
    as_of: datetime,
    channel_caps: tuple[tuple[int, int], ...] = (),
    personal_caps: pl.DataFrame | None = None,
) -> Tick:
    """One tick (module docstring). ``decided``: the log's (campaign_id, trigger_key) so far;
    ``channel_caps``: the caps of the other campaigns on this channel (the channel default is
    always added); ``personal_caps``: gold.crm_personal_caps (customer_id, channel, max_sends,
    window_days), each customer's own cap under the channel's; ``as_of`` naive UTC."""
    trig = campaign.trigger
    check_data(campaign, data, customers)
    regions = customers.select("customer_id", "region") if "region" in customers.columns else None
    found = candidates(
        trig, data, as_of - trig.lookback, as_of, customers["customer_id"], regions=regions
    )
    mine = decided.filter(pl.col("campaign_id") == campaign.campaign_id).select("trigger_key")
    undecided = found.join(mine, on="trigger_key", how="anti")
    fresh = undecided.filter(pl.col("due_at") <= as_of)
    expired = fresh.filter(pl.col("due_at") + trig.valid_for < as_of)
    due = fresh.join(expired.select("trigger_key"), on="trigger_key", how="anti")
    # One message per customer and tick, about the earliest due trigger; the customer's other
    # due triggers are logged as superseded (a tick run again adds nothing).
    first = due.sort("event_at", "trigger_key").unique(
        "customer_id", keep="first", maintain_order=True
    )
    superseded = due.join(first.select("trigger_key"), on="trigger_key", how="anti")
    funnel = {
        "triggers_found": found.height,
        "already_decided": found.height - undecided.height,
        "not_yet_due": undecided.height - fresh.height,
        "expired": expired.height,
        "due": due.height,
        "customers_due": first.height,
    }

    send_now = replace(campaign, send_at=as_of.replace(tzinfo=UTC), send_date=None, send_time=None)
    caps = (FREQUENCY_CAPS[campaign.channel], *channel_caps)
    audience = build_audience(
        send_now,
        customers.join(first.select("customer_id"), on="customer_id", how="semi"),
        history,
        as_of.date(),
        extra_caps=caps,
        personal_caps=channel_personal_caps(personal_caps, campaign.channel),
    )
    funnel.update({f"audience/{k}": v for k, v in audience.funnel.items()})
    groups = audience.assignments.select("customer_id", outcome="assignment_group")
    decided_rows = first.join(groups, on="customer_id", how="left").with_columns(
        outcome=pl.col("outcome").fill_null("excluded_by_audience_rules")
    )
    log = (
        pl.concat(
            [
                decided_rows.select(*CANDIDATE_SCHEMA, "outcome"),
                expired.select(*CANDIDATE_SCHEMA, outcome=pl.lit("expired")),
                superseded.select(*CANDIDATE_SCHEMA, outcome=pl.lit("superseded")),
            ]
        )
        .select(
            campaign_id=pl.lit(campaign.campaign_id),
            trigger_key="trigger_key",
            customer_id="customer_id",
            trigger_event=pl.lit(trig.event),
            event_at="event_at",
            product_id="product_id",
            category_l1="category_l1",
            outcome="outcome",
            decided_at=pl.lit(as_of, pl.Datetime("us")),
        )
        .cast(LOG_SCHEMA)
    )
    assigned = decided_rows.filter(pl.col("outcome").is_in(["treatment", "holdout"])).select(
        "customer_id",
        "trigger_key",
        "event_at",
        "product_id",
        "category_l1",
        trigger_event=pl.lit(trig.event),
    )
    return Tick(campaign, audience, assigned, log, funnel)


def run_ticks(
    campaigns: list[Campaign],
    data: TriggerData,
    customers: pl.DataFrame,
    history: pl.DataFrame,
    decided: pl.DataFrame,
    as_of: datetime,
    all_campaigns: list[Campaign] | None = None,
    personal_caps: pl.DataFrame | None = None,
) -> dict[str, Tick]:
    """A tick of every triggered campaign, in campaign id order: each one's sends join the history
    the next ones are capped against (as plan_campaigns does for batch campaigns); personal caps
    as in run_tick."""
    from dagster_project.lib.campaigns.audience import HISTORY_SCHEMA

    every = all_campaigns or campaigns
    sent = history.select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)
    out = {}
    for c in sorted((c for c in campaigns if c.trigger), key=lambda c: c.campaign_id):
        caps = tuple(
            sorted({(o.max_sends, o.cap_window_days) for o in every if o.channel == c.channel})
        )
        tick = run_tick(c, data, customers, sent, decided, as_of, caps, personal_caps)
        out[c.campaign_id] = tick
        sent = pl.concat([sent, tick.audience.sends().cast(HISTORY_SCHEMA)])
    return out


def empty_log() -> pl.DataFrame:
    return pl.DataFrame(schema=LOG_SCHEMA)


def lookback(campaigns: list[Campaign]) -> timedelta:
    """How much event history a tick of these campaigns reads (the longest trigger lookback)."""
    return max((c.trigger.lookback for c in campaigns if c.trigger), default=timedelta(days=1))
