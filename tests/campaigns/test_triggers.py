"""Triggered campaigns on hand-made events: the trigger file format and its errors, each trigger
type's due and expiry times, and (property-based) ticks over random events and send histories:
consent, night-time consent, every cap on the channel and each customer's personal cap never
broken, no trigger decided twice, the holdout stable across ticks."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_project.lib.campaigns import triggers
from dagster_project.lib.campaigns.audience import HISTORY_SCHEMA, hash_unit
from dagster_project.lib.campaigns.config import (
    FREQUENCY_CAPS,
    CampaignError,
    load_campaign,
    parse_campaign,
)
from dagster_project.lib.settings import REPO_ROOT
from tests.campaigns.test_audience_properties import (
    _cap_violations,
    local_times,
    window_send_counts,
)

T0 = datetime(2025, 11, 1, 3, 0)  # 12:00 in Seoul
EVENT_SCHEMA = {
    "event_id": pl.String,
    "session_id": pl.String,
    "customer_id": pl.String,
    "occurred_at": pl.Datetime("us"),
    "event_type": pl.String,
    "product_id": pl.String,
    "category_l1": pl.String,
}


def raw_campaign(**trigger) -> dict:
    return {
        "campaign_id": "bm",
        "channel": "app_push",
        "holdout_share": 0.2,
        "segment": {"column": "has_marketing_consent", "op": "==", "value": True},
        "trigger": {"event": "bookmark", "delay": "1h", "valid_for": "24h", **trigger},
    }


def events(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            dict(zip(EVENT_SCHEMA, (f"E{j}", f"S{r[0]}", *r[:-1], f"cat_{r[-1]}"), strict=True))
            for j, r in enumerate(rows)
        ],
        schema=EVENT_SCHEMA,
    )


def data(ev: pl.DataFrame, first_orders: pl.DataFrame | None = None) -> triggers.TriggerData:
    first = (
        first_orders
        if first_orders is not None
        else pl.DataFrame(schema={"customer_id": pl.String, "first_ordered_at": pl.Datetime("us")})
    )
    return triggers.TriggerData(ev, first, set(ev["event_type"].unique()), "Asia/Seoul")


def customers(ids: list[str], consent=True, night=True, zone=None) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame(
        {
            "customer_id": ids,
            "has_marketing_consent": [consent] * n,
            "has_night_consent": [night] * n,
            "time_zone": pl.Series([zone] * n, dtype=pl.String),
        }
    )


def test_the_shipped_triggered_campaigns_parse() -> None:
    for name in ("push_bookmark_reminder", "push_cart_reminder"):
        c = load_campaign(REPO_ROOT / "campaigns" / f"{name}.yml")
        assert c.trigger is not None and c.send_at is None and c.send_time is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"event": "page_scroll"}, "trigger.event 'page_scroll' is not one of"),
        ({"event": "weather"}, "trigger.event 'weather' needs trigger.min_precipitation_mm"),
        ({"event": "weather", "temp_drop_c": "cold"}, "trigger.temp_drop_c must be a number"),
        ({"event": "weather", "min_precipitation_mm": 0}, "min_precipitation_mm must be a number"),
        ({"event": "price_drop", "min_drop_pct": 0}, "trigger.min_drop_pct must be a percentage"),
        ({"event": "price_drop", "bookmark_days": 0}, "trigger.bookmark_days must be an integer"),
        ({"delay": "soon"}, "trigger.delay 'soon' is a duration"),
        ({"valid_for": 5}, "trigger.valid_for 5 is a duration"),
        ({"within_hours": 0}, "trigger.within_hours must be an integer"),
        ({"cooldown": "1d"}, "unknown trigger key(s) ['cooldown']"),
        ({"event": "holiday_ahead", "country": "XX"}, "trigger.country 'XX'"),
    ],
)
def test_bad_trigger_fields_name_the_file_and_field(change: dict, message: str) -> None:
    with pytest.raises(CampaignError) as e:
        parse_campaign(raw_campaign(**change), "campaigns/bm.yml", "bm")
    assert str(e.value).startswith("campaigns/bm.yml: ") and message in str(e.value)


def test_send_and_trigger_together_is_an_error() -> None:
    raw = {**raw_campaign(), "send": {"time": "10:00"}}
    with pytest.raises(CampaignError, match="campaigns/bm.yml: a campaign has either send"):
        parse_campaign(raw, "campaigns/bm.yml", "bm")


def test_a_trigger_on_an_event_type_the_data_lacks_names_the_file_and_field() -> None:
    c = parse_campaign(raw_campaign(event="cart_abandoned"), "campaigns/cart.yml", "cart")
    ev = events([("C1", T0, "add_to_cart", "P1", 1)])  # carts but no purchase events at all
    with pytest.raises(CampaignError) as e:
        triggers.run_tick(
            c,
            data(ev),
            customers(["C1"]),
            pl.DataFrame(schema=HISTORY_SCHEMA),
            triggers.empty_log(),
            T0 + timedelta(days=2),
        )
    assert "campaigns/cart.yml: trigger.event 'cart_abandoned' needs ['purchase'] events" in str(
        e.value
    )


def test_a_weather_trigger_on_data_without_weather_names_the_file_and_field() -> None:
    c = parse_campaign(
        raw_campaign(event="weather", min_precipitation_mm=5), "campaigns/rain.yml", "rain"
    )
    ev = events([("C1", T0, "view", "P1", 1)])
    with pytest.raises(CampaignError) as e:
        _tick(c, ev, customers(["C1"]).with_columns(region=pl.lit("seoul")), T0)
    assert str(e.value).startswith(
        "campaigns/rain.yml: trigger.event 'weather' needs the optional weather table"
    )
    assert "date, region, precipitation_mm, mean_temp_c" in str(e.value)
    # A weather table without rows in the tick's window is no error: nothing to trigger.
    quiet = _tick(
        c,
        ev,
        customers(["C1"]).with_columns(region=pl.lit("seoul")),
        T0,
        weather=weather_rows([]),
    )
    assert quiet.log.is_empty()


def _tick(c, ev, cust, as_of, decided=None, history=None, first=None, weather=None, prices=None):
    d = replace(data(ev, first), weather=weather, price_changes=prices)
    return triggers.run_tick(
        c,
        d,
        cust,
        history if history is not None else pl.DataFrame(schema=HISTORY_SCHEMA),
        decided if decided is not None else triggers.empty_log(),
        as_of,
    )


def test_bookmark_is_due_after_the_delay_and_expires_after_valid_for() -> None:
    c = replace(parse_campaign(raw_campaign(), "campaigns/bm.yml", "bm"), holdout_share=0.0)
    ev = events(
        [
            ("C1", T0, "bookmark", "P1", 1),
            ("C2", T0 - timedelta(hours=24, minutes=30), "bookmark", "P2", 2),
        ]
    )
    cust = customers(["C1", "C2"])
    early = _tick(c, ev, cust, T0 + timedelta(minutes=59))
    assert early.audience.assignments.is_empty()  # C1 due at T0+1h; C2 expired at T0+30m
    assert early.log.filter(pl.col("outcome") == "expired")["customer_id"].to_list() == ["C2"]
    due = _tick(c, ev, cust, T0 + timedelta(hours=1), decided=early.log)
    assert due.triggers.select("customer_id", "product_id", "category_l1").rows() == [
        ("C1", "P1", "cat_1")
    ]
    assert due.audience.assignments["sent_at"].to_list() == [T0 + timedelta(hours=1)]
    export = due.export_products()
    assert export["trigger_key"].to_list() == ["E0"]
    # The next tick finds the same event decided: no second message for it.
    log = pl.concat([early.log, due.log])
    again = _tick(c, ev, cust, T0 + timedelta(hours=2), decided=log)
    assert again.audience.assignments.is_empty() and again.funnel["already_decided"] == 2


def test_cart_abandoned_is_cancelled_by_a_purchase_within_the_wait() -> None:
    c = replace(
        parse_campaign(
            raw_campaign(event="cart_abandoned", delay="0m", within_hours=24),
            "campaigns/cart.yml",
            "cart",
        ),
        holdout_share=0.0,
    )
    ev = events(
        [
            ("C1", T0, "add_to_cart", "P1", 1),
            ("C2", T0, "add_to_cart", "P2", 1),
            ("C2", T0 + timedelta(hours=20), "purchase", "P2", 1),  # bought: no reminder
            ("C3", T0, "add_to_cart", "P3", 1),
            ("C3", T0 + timedelta(hours=2), "purchase", "P9", 1),  # another product: reminder
        ]
    )
    before = _tick(c, ev, customers(["C1", "C2", "C3"]), T0 + timedelta(hours=23))
    assert before.audience.assignments.is_empty()
    tick = _tick(c, ev, customers(["C1", "C2", "C3"]), T0 + timedelta(hours=24))
    assert sorted(tick.triggers["customer_id"]) == ["C1", "C3"]


def test_category_views_trigger_on_the_nth_view_of_a_category_in_a_day() -> None:
    c = replace(
        parse_campaign(
            raw_campaign(event="category_views", min_views=3, delay="0m"), "campaigns/cv.yml", "cv"
        ),
        holdout_share=0.0,
    )
    rows = [("C1", T0 + timedelta(minutes=m), "view", f"P{m}", 1) for m in range(4)]
    rows += [("C2", T0 + timedelta(minutes=m), "view", f"P{m}", m) for m in range(4)]  # 4 cats
    tick = _tick(c, events(rows), customers(["C1", "C2"]), T0 + timedelta(hours=1))
    assert tick.triggers.select("customer_id", "category_l1", "event_at").rows() == [
        ("C1", "cat_1", T0 + timedelta(minutes=2))
    ]


def test_anniversary_and_holiday_triggers() -> None:
    first = pl.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "first_ordered_at": [datetime(2024, 11, 1, 1), datetime(2025, 3, 1)],
        }
    )
    ev = events([("C1", T0, "view", "P1", 1), ("C2", T0, "view", "P1", 1)])
    c = replace(
        parse_campaign(
            raw_campaign(event="first_purchase_anniversary", delay="0m"), "campaigns/an.yml", "an"
        ),
        holdout_share=0.0,
    )
    tick = _tick(c, ev, customers(["C1", "C2"]), T0, first=first)
    assert tick.triggers.select("customer_id", "trigger_key").rows() == [("C1", "C1|anniversary|1")]
    # Christmas 2025 is a Korean holiday: three days ahead is 2025-12-22 00:00 KST.
    h = replace(
        parse_campaign(
            raw_campaign(event="holiday_ahead", days_ahead=3, delay="10h"), "campaigns/h.yml", "h"
        ),
        holdout_share=0.0,
    )
    at = datetime(2025, 12, 22, 1, 0)  # 10:00 KST
    tick = _tick(h, ev, customers(["C1", "C2"]), at, first=first)
    assert tick.triggers["trigger_key"].to_list() == [
        "C1|holiday|2025-12-25",
        "C2|holiday|2025-12-25",
    ]
    assert _tick(h, ev, customers(["C1", "C2"]), at - timedelta(minutes=1)).triggers.is_empty()


ZONES = ["Asia/Seoul", "UTC", "America/New_York", None]
TYPES = ["bookmark", "add_to_cart", "purchase", "view"]
REGIONS = ["seoul", "busan", "jeju"]


@st.composite
def trigger_worlds(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(5, 60))
    ids = [f"C{i:04d}" for i in range(n)]
    cust = pl.DataFrame(
        {
            "customer_id": ids,
            "has_marketing_consent": rng.choice([True, False, None], n, p=[0.6, 0.3, 0.1]).tolist(),
            "has_night_consent": rng.choice([True, False, None], n, p=[0.4, 0.5, 0.1]).tolist(),
            "time_zone": pl.Series(
                rng.choice(np.array(ZONES, dtype=object), n).tolist(), dtype=pl.String
            ),
            "region": rng.choice(REGIONS, n).tolist(),
        }
    )
    days = [T0.date() + timedelta(days=d) for d in range(-1, 5)]
    weather = pl.DataFrame(
        {
            "date": np.repeat(days, len(REGIONS)).tolist(),
            "region": REGIONS * len(days),
            "precipitation_mm": rng.choice([0.0, 2.0, 8.0, 30.0], len(days) * len(REGIONS)),
            "mean_temp_c": rng.normal(10, 5, len(days) * len(REGIONS)).round(1),
        }
    )
    k = draw(st.integers(4, 6 * n))
    minutes = np.sort(rng.integers(0, 2 * 1440, k))
    ev = pl.DataFrame(
        {
            "event_id": [f"E{j:05d}" for j in range(k)],
            "session_id": [f"S{j // 3}" for j in range(k)],
            "customer_id": rng.choice(ids, k).tolist(),
            "occurred_at": [T0 + timedelta(minutes=int(m)) for m in minutes],
            # Every type at least once (a trigger on a type the data lacks is an error).
            "event_type": (TYPES * k)[:4] + rng.choice(TYPES, k).tolist()[4:],
            "product_id": [f"P{p}" for p in rng.integers(0, 20, k)],
            "category_l1": [f"cat_{p}" for p in rng.integers(0, 3, k)],
        },
        schema=EVENT_SCHEMA,
    )
    h = draw(st.integers(0, 3 * n))
    history = pl.DataFrame(
        {
            "customer_id": rng.choice(ids, h).tolist(),
            "channel": rng.choice(["app_push", "kakaotalk"], h).tolist(),
            "sent_at": [
                T0 + timedelta(minutes=int(m)) for m in rng.integers(-7 * 1440, 3 * 1440, h)
            ],
        },
        schema=HISTORY_SCHEMA,
    )
    campaigns = []
    for j, event in enumerate(
        draw(
            st.lists(
                st.sampled_from(
                    ["bookmark", "cart_abandoned", "category_views", "weather", "price_drop"]
                ),
                min_size=1,
                max_size=3,
            )
        )
    ):
        raw = raw_campaign(
            event=event,
            delay=f"{draw(st.integers(0, 180))}m",
            valid_for=f"{draw(st.integers(1, 48))}h",
            within_hours=draw(st.integers(1, 24)),
            min_views=draw(st.integers(1, 3)),
            min_precipitation_mm=draw(st.sampled_from([5, 20])),
            temp_drop_c=draw(st.sampled_from([None, 3])),
            bookmark_days=draw(st.integers(1, 3)),
            min_drop_pct=draw(st.sampled_from([10, 30])),
        )
        raw.update(
            campaign_id=f"t{j}",
            holdout_share=draw(st.floats(0.0, 0.6)),
            frequency_cap={
                "max_sends": draw(st.integers(1, 3)),
                "window_days": draw(st.integers(1, 7)),
            },
            segment={"column": "has_marketing_consent", "op": "is_not_null"},
        )
        campaigns.append(parse_campaign(raw, f"campaigns/t{j}.yml", f"t{j}"))
    step = timedelta(minutes=draw(st.sampled_from([90, 360, 720])))
    # Personal caps (gold.crm_personal_caps) for some customers on each channel, at most 3.
    capped = rng.random((2, n)) < 0.7
    personal = pl.DataFrame(
        {
            "customer_id": [c for row in capped for c, keep in zip(ids, row, strict=True) if keep],
            "channel": [
                ch
                for ch, row in zip(("app_push", "kakaotalk"), capped, strict=True)
                for k in row
                if k
            ],
            "max_sends": rng.integers(1, 4, int(capped.sum())).tolist(),
            "window_days": [7] * int(capped.sum()),
        },
        schema={
            "customer_id": pl.String,
            "channel": pl.String,
            "max_sends": pl.Int64,
            "window_days": pl.Int64,
        },
    )
    # A markdown of every product inside the events' days, some too small for a trigger.
    prices = pl.DataFrame(
        {
            "product_id": [f"P{p}" for p in range(20)],
            "valid_from": [T0 + timedelta(minutes=int(m)) for m in rng.integers(0, 3 * 1440, 20)],
            "drop_pct": rng.choice([0.05, 0.2, 0.35], 20),
        }
    )
    return (
        cust,
        ev,
        history,
        campaigns,
        step,
        personal,
        replace(data(ev), weather=weather, price_changes=prices),
    )


def personal_cap_violations(all_sends: pl.DataFrame, new: pl.DataFrame, caps: pl.DataFrame) -> int:
    """Windows [a, a + window_days) holding a new send and more of the customer's sends on the
    channel than their personal cap."""
    violations = 0
    for (days,), group in caps.group_by("window_days"):
        counts = window_send_counts(all_sends, new, timedelta(days=int(days))).join(
            group, on=["customer_id", "channel"]
        )
        violations += counts.filter(pl.col("len") > pl.col("max_sends")).height
    return violations


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trigger_worlds())
def test_ticks_respect_consent_night_caps_and_never_trigger_twice(world) -> None:
    cust, ev, history, campaigns, step, personal, d = world
    log, sent = triggers.empty_log(), history
    assigned = []
    at = T0
    while at <= T0 + timedelta(days=3):  # ticks every `step` over the events and a day after
        ticks = triggers.run_ticks(campaigns, d, cust, sent, log, at, personal_caps=personal)
        for tick in ticks.values():
            log = pl.concat([log, tick.log])
            a = tick.audience.assignments
            assigned.append(a)
            sent = pl.concat([sent, tick.audience.sends().cast(HISTORY_SCHEMA)])
        at += step
    a = pl.concat(assigned)
    # No (campaign, trigger) decided twice; each assignment has its trigger in the log.
    assert log.select("campaign_id", "trigger_key").is_unique().all()
    by_id = cust.select("customer_id", "has_marketing_consent", "has_night_consent")
    checked = a.join(by_id, on="customer_id")
    assert checked["has_marketing_consent"].fill_null(False).all()
    # Night: the local time of each send, converted here by Polars, not by the code under test.
    rows = a.with_row_index("row")
    local = pl.concat(
        [
            local_times(group.select("customer_id", "sent_at"), cust).with_columns(row=group["row"])
            for (_,), group in rows.group_by("customer_id")
        ]
        or [
            pl.DataFrame(
                schema={"customer_id": pl.String, "local": pl.Datetime("us"), "row": pl.UInt32}
            )
        ]
    )
    night = rows.join(local, on="row").with_columns(
        night=(pl.col("local").dt.time() >= time(21)) | (pl.col("local").dt.time() < time(8))
    )
    assert (night["night"] == night["is_night_send"]).all()
    night_ids = night.filter("night").join(by_id, on="customer_id")
    assert night_ids["has_night_consent"].fill_null(False).all()
    # Holdout stable: a customer's group in a campaign is the same at every tick (the hash).
    groups = a.group_by("campaign_id", "customer_id").agg(pl.col("assignment_group").n_unique())
    assert (groups["assignment_group"] == 1).all()
    for c in campaigns:
        mine = a.filter(pl.col("campaign_id") == c.campaign_id)
        units = hash_unit(c.campaign_id, mine["customer_id"])
        assert ((units < c.holdout_share) == (mine["assignment_group"] == "holdout")).all()
    # Caps: every window holding a triggered send holds no more sends than any cap on the channel.
    new = a.filter("is_treatment").select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)
    for c in campaigns:
        for cap, days in {(c.max_sends, c.cap_window_days), FREQUENCY_CAPS[c.channel]}:
            same = sent.filter(pl.col("channel") == c.channel)
            assert _cap_violations(same, new, timedelta(days=days), cap) == 0
    # And each customer's personal cap on the channel.
    assert personal_cap_violations(sent, new, personal) == 0


def test_the_export_carries_the_triggering_product_and_category() -> None:
    c = replace(parse_campaign(raw_campaign(), "campaigns/bm.yml", "bm"), holdout_share=0.0)
    ev = events([("C1", T0, "bookmark", "P1", 1)])
    tick = _tick(c, ev, customers(["C1"]), T0 + timedelta(hours=2))
    from dagster_project.lib.campaigns.export import export_frame

    frame = export_frame(tick.audience, tick.export_products())
    assert frame.select("customer_id", "product_id", "category_l1", "trigger_event").rows() == [
        ("C1", "P1", "cat_1", "bookmark")
    ]


def weather_rows(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "date": pl.Date,
            "region": pl.String,
            "precipitation_mm": pl.Float64,
            "mean_temp_c": pl.Float64,
        },
        orient="row",
    )


def test_weather_trigger_fires_on_rain_or_a_cold_snap_in_the_customers_region() -> None:
    rain = replace(
        parse_campaign(
            raw_campaign(event="weather", min_precipitation_mm=5, delay="8h"),
            "campaigns/rain.yml",
            "rain",
        ),
        holdout_share=0.0,
    )
    cold = replace(
        rain,
        campaign_id="cold",
        trigger=replace(rain.trigger, min_precipitation_mm=None, temp_drop_c=5),
    )
    d1, d2 = T0.date(), T0.date() + timedelta(days=1)  # 2025-11-01, 11-02
    weather = weather_rows(
        [
            (d1 - timedelta(days=1), "seoul", 0.0, 14.0),
            (d1 - timedelta(days=1), "busan", 0.0, 18.0),
            (d1, "seoul", 12.0, 13.0),  # rain in Seoul
            (d1, "busan", 4.9, 17.5),  # under 5 mm: no rain trigger
            (d2, "seoul", 0.0, 12.0),
            (d2, "busan", 0.0, 11.0),  # 6.5 C colder than the day before: a cold snap
        ]
    )
    cust = customers(["C1", "C2", "C3"]).with_columns(
        region=pl.Series(["seoul", "busan", "seoul"]),
        has_marketing_consent=pl.Series([True, True, False]),  # C3: no consent
    )
    ev = events([("C1", T0, "view", "P1", 1)])
    at = datetime(2025, 10, 31, 23, 0)  # 08:00 KST on 11-01: 00:00 KST + the 8 h delay
    early = _tick(rain, ev, cust, at - timedelta(minutes=1), weather=weather)
    assert early.log.is_empty()
    tick = _tick(rain, ev, cust, at, weather=weather)
    assert tick.triggers.select("customer_id", "trigger_key").rows() == [
        ("C1", "C1|weather|2025-11-01")
    ]
    assert tick.audience.assignments["sent_at"].to_list() == [at]
    # C3 has the same rain but no consent: logged as excluded by the audience rules.
    assert dict(tick.log.select("customer_id", "outcome").rows()) == {
        "C1": "treatment",
        "C3": "excluded_by_audience_rules",
    }
    again = _tick(rain, ev, cust, at + timedelta(hours=3), decided=tick.log, weather=weather)
    assert again.log.is_empty() and again.funnel["already_decided"] == 2  # one decision per day
    snap = _tick(cold, ev, cust, at + timedelta(days=1), weather=weather)
    assert snap.triggers["trigger_key"].to_list() == ["C2|weather|2025-11-02"]


def price_changes(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"product_id": pl.String, "valid_from": pl.Datetime("us"), "drop_pct": pl.Float64},
        orient="row",
    )


def test_a_price_drop_trigger_on_data_without_prices_names_the_file_and_field() -> None:
    c = parse_campaign(raw_campaign(event="price_drop"), "campaigns/drop.yml", "drop")
    ev = events([("C1", T0, "bookmark", "P1", 1)])
    with pytest.raises(CampaignError) as e:
        _tick(c, ev, customers(["C1"]), T0)
    assert str(e.value).startswith(
        "campaigns/drop.yml: trigger.event 'price_drop' needs the optional product_prices table"
    )
    assert "product_id, valid_from, price_krw" in str(e.value)
    # A price history without a recent change is no error: nothing to trigger.
    quiet = _tick(c, ev, customers(["C1"]), T0, prices=price_changes([]))
    assert quiet.log.is_empty()


def test_price_drop_fires_for_who_bookmarked_the_product_and_did_not_buy_it() -> None:
    c = replace(
        parse_campaign(
            raw_campaign(event="price_drop", bookmark_days=30, min_drop_pct=10, delay="9h"),
            "campaigns/drop.yml",
            "drop",
        ),
        holdout_share=0.0,
    )
    drop = datetime(2025, 10, 31, 15, 0)  # 00:00 KST on 11-01
    ev = events(
        [
            ("C1", drop - timedelta(days=10), "bookmark", "P1", 1),  # reminded
            ("C1", drop - timedelta(days=9), "bookmark", "P1", 1),  # the same drop: one message
            ("C2", drop - timedelta(days=10), "bookmark", "P1", 1),
            ("C2", drop - timedelta(days=2), "purchase", "P1", 1),  # bought it since: nothing
            ("C3", drop - timedelta(days=31), "bookmark", "P1", 1),  # bookmarked too long ago
            ("C4", drop - timedelta(days=3), "bookmark", "P2", 2),  # P2 only 5 % off
            ("C5", drop + timedelta(hours=1), "bookmark", "P1", 1),  # saw the new price
            ("C6", drop - timedelta(days=1), "bookmark", "P1", 1),  # no consent: excluded
        ]
    )
    prices = price_changes([("P1", drop, 0.25), ("P2", drop, 0.05)])
    cust = customers(["C1", "C2", "C3", "C4", "C5", "C6"]).with_columns(
        has_marketing_consent=pl.Series([True] * 5 + [False])
    )
    at = drop + timedelta(hours=9)  # 09:00 KST, the delay after the markdown
    early = _tick(c, ev, cust, at - timedelta(minutes=1), prices=prices)
    assert early.log.is_empty()
    tick = _tick(c, ev, cust, at, prices=prices)
    assert tick.triggers.select("customer_id", "product_id", "category_l1").rows() == [
        ("C1", "P1", "cat_1")
    ]
    assert tick.audience.assignments["sent_at"].to_list() == [at]
    assert dict(tick.log.select("customer_id", "outcome").rows()) == {
        "C1": "treatment",
        "C6": "excluded_by_audience_rules",
    }
    assert tick.export_products()["trigger_key"].to_list() == ["C1|P1|2025-10-31T15:00:00"]
    again = _tick(c, ev, cust, at + timedelta(hours=3), decided=tick.log, prices=prices)
    assert again.log.is_empty() and again.funnel["already_decided"] == 2
