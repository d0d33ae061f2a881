"""Property-based tests of the audience rules over random customers, campaigns and send
histories: no audience member without marketing consent, no night send (local time computed here
by Polars' time-zone database, not by the code under test) without night consent, never more
sends than the cap in any window, holdout share within tolerance and stable; and literal
expectations for the night rule across time zones and for the holdout hash."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_project.lib.campaigns.audience import (
    HISTORY_SCHEMA,
    build_audience,
    empty_history,
    hash_unit,
    plan_campaigns,
)
from dagster_project.lib.campaigns.config import CHANNELS, FREQUENCY_CAPS, Campaign

ZONES = ["Asia/Seoul", "UTC", "America/New_York", "Asia/Kolkata"]
SEND_DATE = date(2025, 11, 1)


@st.composite
def worlds(draw):
    n = draw(st.integers(20, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    customers = pl.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "has_marketing_consent": rng.choice([True, False, None], n, p=[0.6, 0.3, 0.1]).tolist(),
            "has_night_consent": rng.choice([True, False, None], n, p=[0.4, 0.5, 0.1]).tolist(),
            "time_zone": rng.choice([*ZONES, None], n).tolist(),
            "days_since_last_order": rng.integers(0, 200, n).tolist(),
            "browsing_type": rng.choice(["meticulous", "mania", "easygoing"], n).tolist(),
        }
    )
    k = draw(st.integers(0, 3 * n))
    start = datetime(2025, 10, 20)
    history = pl.DataFrame(
        {
            "customer_id": rng.choice(customers["customer_id"].to_numpy(), k).tolist(),
            "channel": rng.choice(list(CHANNELS), k).tolist(),
            "sent_at": [start + timedelta(minutes=int(m)) for m in rng.integers(0, 30 * 1440, k)],
        },
        schema=HISTORY_SCHEMA,
    )
    campaigns = []
    for j in range(draw(st.integers(1, 4))):
        local = draw(st.booleans())
        hour, minute = draw(st.integers(0, 23)), draw(st.sampled_from([0, 30]))
        day = SEND_DATE + timedelta(days=draw(st.integers(0, 6)))
        campaigns.append(
            Campaign(
                campaign_id=f"camp{j}",
                name=f"camp{j}",
                channel=draw(st.sampled_from(CHANNELS)),
                creative_id="c",
                holdout_share=draw(st.floats(0.0, 0.9)),
                max_sends=draw(st.integers(1, 3)),
                cap_window_days=draw(st.integers(1, 14)),
                response_window_days=7,
                segment={
                    "column": "days_since_last_order",
                    "op": "<=",
                    "value": draw(st.integers(0, 200)),
                },
                source=f"campaigns/camp{j}.yml",
                send_date=day if local else None,
                send_time=time(hour, minute) if local else None,
                send_at=None
                if local
                else datetime.combine(day, time(hour, minute), tzinfo=timezone(timedelta(hours=9))),
            )
        )
    return customers, history, campaigns


def window_send_counts(all_sends: pl.DataFrame, new: pl.DataFrame, window: timedelta):
    """Per window [a, a + window) that contains a new send (a: one of the customer's sends on
    the channel), the number of the customer's sends on the channel in it (`len`)."""
    starts = (
        new.join(all_sends.rename({"sent_at": "a"}), on=["customer_id", "channel"])
        .filter((pl.col("a") <= pl.col("sent_at")) & (pl.col("sent_at") < pl.col("a") + window))
        .select("customer_id", "channel", "a")
        .unique()
    )
    return (
        starts.join(all_sends, on=["customer_id", "channel"])
        .filter((pl.col("sent_at") >= pl.col("a")) & (pl.col("sent_at") < pl.col("a") + window))
        .group_by("customer_id", "channel", "a")
        .len()
    )


def _cap_violations(all_sends: pl.DataFrame, new: pl.DataFrame, window: timedelta, cap: int) -> int:
    """Windows [a, a + window) that contain a new send and more than `cap` sends."""
    return window_send_counts(all_sends, new, window).filter(pl.col("len") > cap).height


def local_times(assignments: pl.DataFrame, customers: pl.DataFrame) -> pl.DataFrame:
    """customer_id, local: the UTC send time in the customer's zone (null: the business zone),
    converted by Polars (chrono-tz), independently of the audience code's zoneinfo."""
    zones = customers.select("customer_id", zone=pl.col("time_zone").fill_null("Asia/Seoul"))
    with_zone = assignments.select("customer_id", "sent_at").join(zones, on="customer_id")
    parts = [
        group.select(
            "customer_id",
            local=pl.col("sent_at")
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone(tz)
            .dt.replace_time_zone(None),
        )
        for (tz,), group in with_zone.group_by("zone")
    ]
    empty = pl.DataFrame(schema={"customer_id": pl.String, "local": pl.Datetime("us")})
    return pl.concat([empty, *parts])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_audiences_respect_consent_night_and_frequency_caps(world) -> None:
    customers, history, campaigns = world
    planned = plan_campaigns(campaigns, customers, history, SEND_DATE, "Asia/Seoul")
    again = plan_campaigns(campaigns, customers, history, SEND_DATE, "Asia/Seoul")
    sends = history
    by_id = customers.select("customer_id", "has_marketing_consent", "has_night_consent")
    for campaign in sorted(
        campaigns,
        key=lambda c: (
            planned[c.campaign_id].assignments["sent_at"].min() or datetime.max,
            c.campaign_id,
        ),
    ):
        a = planned[campaign.campaign_id].assignments.join(by_id, on="customer_id")
        assert a["customer_id"].is_unique().all()
        # Marketing consent, always (a missing consent is no consent).
        assert a["has_marketing_consent"].fill_null(False).all()
        # A send between 21:00 and 08:00 local time only with night consent. Local time from
        # the UTC send time and the customer's zone (null: the business zone), converted here.
        a = a.join(local_times(a, customers), on="customer_id", maintain_order="left")
        assert (a["local"] == a["send_local"]).all()
        if campaign.send_time is not None:  # a local-time campaign: that time in every zone
            assert (a["local"].dt.time() == campaign.send_time).all()
        night = (a["local"].dt.time() >= time(21)) | (a["local"].dt.time() < time(8))
        assert (night == a["is_night_send"]).all()
        assert a.filter(night)["has_night_consent"].fill_null(False).all()
        # Re-running gives the same groups.
        assert a.drop("has_marketing_consent", "has_night_consent", "local").equals(
            again[campaign.campaign_id].assignments
        )
    # Caps: every window of a campaign's length that holds one of its sends holds <= max sends.
    for campaign in campaigns:
        new = planned[campaign.campaign_id].treatment.select(list(HISTORY_SCHEMA))
        sends = pl.concat([sends, new.cast(HISTORY_SCHEMA)])
    for campaign in campaigns:
        new = planned[campaign.campaign_id].treatment.select(list(HISTORY_SCHEMA))
        same_channel = sends.filter(pl.col("channel") == campaign.channel)
        # The campaign's own cap and the channel's default cap.
        for cap, days in {
            (campaign.max_sends, campaign.cap_window_days),
            FREQUENCY_CAPS[campaign.channel],
        }:
            assert _cap_violations(same_channel, new, timedelta(days=days), cap) == 0


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=1, max_size=20), st.floats(0.05, 0.5))
def test_holdout_share_is_within_binomial_tolerance(campaign_id: str, share: float) -> None:
    ids = pl.Series([f"C{i:06d}" for i in range(20_000)])
    units = hash_unit(campaign_id, ids)
    observed = float((units < share).mean())
    # 4.5 standard errors: a correct hash fails this about once in 150,000 draws.
    assert abs(observed - share) < 4.5 * np.sqrt(share * (1 - share) / ids.len())
    assert units.equals(hash_unit(campaign_id, ids))


def test_night_rule_uses_each_customers_time_zone() -> None:
    # 2025-11-01 12:00 UTC is 21:00 in Seoul (night), 08:00 in New York (EDT, day), 12:00 in
    # London (day) and 01:00 on 2 November in Auckland (NZDT, night); no zone: Seoul's.
    zones = {
        "seoul": "Asia/Seoul",
        "new_york": "America/New_York",
        "london": "Europe/London",
        "auckland": "Pacific/Auckland",
        "unknown": None,
    }
    customers = pl.DataFrame(
        {
            "customer_id": [*zones, *(f"{c}_night" for c in zones)],
            "time_zone": [*zones.values(), *zones.values()],
            "has_marketing_consent": [True] * 10,
            "has_night_consent": [False] * 5 + [True] * 5,
            "days_since_last_order": [0] * 10,
        }
    )
    campaign = Campaign(
        campaign_id="noon_utc",
        name="noon_utc",
        channel="app_push",
        creative_id="c",
        holdout_share=0.0,
        max_sends=3,
        cap_window_days=7,
        response_window_days=7,
        segment={"column": "days_since_last_order", "op": ">=", "value": 0},
        source="campaigns/noon_utc.yml",
        send_at=datetime(2025, 11, 1, 12, tzinfo=UTC),
    )
    result = build_audience(campaign, customers, empty_history(), SEND_DATE, "Asia/Seoul")
    got = result.assignments.sort("customer_id")
    assert got["customer_id"].to_list() == [
        "auckland_night",
        "london",
        "london_night",
        "new_york",
        "new_york_night",
        "seoul_night",
        "unknown_night",
    ]
    assert got["send_local"].dt.strftime("%Y-%m-%d %H:%M").to_list() == [
        "2025-11-02 01:00",
        "2025-11-01 12:00",
        "2025-11-01 12:00",
        "2025-11-01 08:00",
        "2025-11-01 08:00",
        "2025-11-01 21:00",
        "2025-11-01 21:00",
    ]
    assert result.funnel["excluded_night"] == 3  # seoul, auckland and unknown without consent


def test_hash_unit_is_sha256_with_pinned_values() -> None:
    # Written once from hashlib (SHA-256 of "<campaign_id>:<customer_id>", first 60 bits / 2^60):
    # if these change, every past holdout would be reassigned.
    ids = ["C000001", "C000002", "고객-7", "x:y"]
    assert hash_unit("spring", pl.Series(ids)).to_list() == [
        0.8273050890455725,
        0.21558981719426673,
        0.03199602190745796,
        0.43069746669950404,
    ]
    assert hash_unit("kakao_coupon_at_risk", pl.Series(["C000001"])).to_list() == [
        0.08212860929100306
    ]
