"""Property-based tests of the audience rules over random customers, campaigns and send
histories: no audience member without marketing consent, no night send without night consent,
never more sends than the cap in any window, holdout share within tolerance and stable."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_project.lib.campaigns.audience import HISTORY_SCHEMA, hash_unit, plan_campaigns
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


def _cap_violations(all_sends: pl.DataFrame, new: pl.DataFrame, window: timedelta, cap: int) -> int:
    """Windows [a, a + window) that contain a new send and more than `cap` sends."""
    starts = (
        new.join(all_sends.rename({"sent_at": "a"}), on=["customer_id", "channel"])
        .filter((pl.col("a") <= pl.col("sent_at")) & (pl.col("sent_at") < pl.col("a") + window))
        .select("customer_id", "channel", "a")
        .unique()
    )
    counts = (
        starts.join(all_sends, on=["customer_id", "channel"])
        .filter((pl.col("sent_at") >= pl.col("a")) & (pl.col("sent_at") < pl.col("a") + window))
        .group_by("customer_id", "channel", "a")
        .len()
    )
    return counts.filter(pl.col("len") > cap).height


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
        # A send between 21:00 and 08:00 local time only with night consent.
        local = a["send_local"].dt.time()
        night = (local >= time(21)) | (local < time(8))
        assert (night == a["is_night_send"]).all()
        assert a.filter(pl.col("is_night_send"))["has_night_consent"].fill_null(False).all()
        # Re-running gives the same groups.
        assert a.drop("has_marketing_consent", "has_night_consent").equals(
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


def test_hash_unit_is_plain_sha256() -> None:
    ids = ["C000001", "C000002", "고객-7", "x:y"]
    expected = [
        int(hashlib.sha256(f"spring:{c}".encode()).hexdigest()[:15], 16) / 2.0**60 for c in ids
    ]
    assert hash_unit("spring", pl.Series(ids)).to_list() == expected
    # Pinned values: if these change, every past holdout would be reassigned.
    assert round(hash_unit("kakao_coupon_at_risk", pl.Series(["C000001"]))[0], 12) == round(
        expected_unit("kakao_coupon_at_risk", "C000001"), 12
    )


def expected_unit(campaign_id: str, customer_id: str) -> float:
    return (
        int(hashlib.sha256(f"{campaign_id}:{customer_id}".encode()).hexdigest()[:15], 16) / 2.0**60
    )
