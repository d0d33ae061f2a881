"""Property-based tests of multi-arm campaigns (fixed and adaptive shares) planned with each
customer's personal cap and best-in-window send times, over random customers, send histories,
send-time posteriors and caps: no send without marketing consent, no night send (local time
converted here by Polars) without night consent, every best-in-window send inside its window on
its day, no window over the channel's, the campaign's or the customer's own cap, the holdout the
stable hash's (the same with or without arms), arms and creatives as the YAML says, and the same
plan on a re-run."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_project.lib.campaigns.audience import HISTORY_SCHEMA, hash_unit, plan_campaigns
from dagster_project.lib.campaigns.config import FREQUENCY_CAPS, parse_campaign
from dagster_project.lib.crm.send_time import HOURS_OF_WEEK, SendTimeModel, window_hours
from tests.campaigns.test_audience_properties import _cap_violations, local_times
from tests.campaigns.test_triggers import personal_cap_violations

ZONES = ["Asia/Seoul", "UTC", "America/New_York", None]
SEND_DATE = date(2025, 11, 10)
TYPES = ["meticulous", "mania", "easygoing"]
CAP_SCHEMA = {"customer_id": pl.String, "channel": pl.String, "max_sends": pl.Int64}


@st.composite
def arm_worlds(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(30, 300))
    ids = [f"C{i:05d}" for i in range(n)]
    customers = pl.DataFrame(
        {
            "customer_id": ids,
            "has_marketing_consent": rng.choice([True, False, None], n, p=[0.7, 0.2, 0.1]).tolist(),
            "has_night_consent": rng.choice([True, False, None], n, p=[0.4, 0.5, 0.1]).tolist(),
            "time_zone": pl.Series(
                rng.choice(np.array(ZONES, object), n).tolist(), dtype=pl.String
            ),
            "browsing_type": rng.choice(TYPES, n).tolist(),
        }
    )
    k = draw(st.integers(0, 4 * n))
    history = pl.DataFrame(
        {
            "customer_id": rng.choice(ids, k).tolist(),
            "channel": rng.choice(["app_push", "kakaotalk"], k).tolist(),
            "sent_at": [
                datetime(2025, 11, 3) + timedelta(minutes=int(m))
                for m in rng.integers(0, 14 * 1440, k)
            ],
        },
        schema=HISTORY_SCHEMA,
    )
    known = sorted(rng.choice(ids, draw(st.integers(0, n)), replace=False).tolist())
    posterior = rng.dirichlet(np.full(HOURS_OF_WEEK, 0.3), len(known)).astype(np.float32)
    model = SendTimeModel(
        pl.Series(known, dtype=pl.String),
        posterior.reshape(len(known), HOURS_OF_WEEK),
        np.ones(len(known)),
        rng.dirichlet(np.ones(HOURS_OF_WEEK)),
        1.0,
    )
    capped = rng.random(n) < 0.8
    caps = pl.DataFrame(
        {
            "customer_id": [c for c, keep in zip(ids, capped, strict=True) if keep] * 2,
            "channel": ["app_push"] * int(capped.sum()) + ["kakaotalk"] * int(capped.sum()),
            "max_sends": rng.integers(1, 4, 2 * int(capped.sum())).tolist(),
        },
        schema=CAP_SCHEMA,
    ).with_columns(window_days=pl.lit(7, pl.Int64))
    campaigns = []
    for j in range(draw(st.integers(1, 3))):
        n_arms = draw(st.integers(2, 4))
        cuts = np.sort(rng.integers(1, 20, n_arms - 1))
        shares = np.diff(np.r_[0, cuts, 20]) / 20
        shares = np.where(shares == 0, 0.05, shares)
        shares = np.round(shares / shares.sum(), 6)
        shares[-1] = round(1 - shares[:-1].sum(), 6)
        raw = {
            "channel": draw(st.sampled_from(["app_push", "kakaotalk"])),
            "holdout_share": draw(st.floats(0.0, 0.5)),
            "frequency_cap": {
                "max_sends": draw(st.integers(1, 3)),
                "window_days": draw(st.integers(1, 7)),
            },
            "send": {
                "date": str(SEND_DATE + timedelta(days=draw(st.integers(0, 6)))),
                "time": "19:00",
            },
            "segment": {"column": "has_marketing_consent", "op": "is_not_null"},
            "arms": [
                {"arm_id": f"a{m}", "creative_id": f"cr{m}", "share": float(s)}
                for m, s in enumerate(shares)
            ],
        }
        if draw(st.booleans()):
            start, end = sorted(draw(st.lists(st.integers(0, 23), min_size=2, max_size=2)))
            raw["send_time"] = {
                "mode": "best_in_window",
                "window": [f"{start:02d}:00", f"{max(end, start + 1):02d}:00"],
            }
        if draw(st.booleans()):
            raw["adaptive"] = {"mode": "thompson", "by": "browsing_type"}
        campaigns.append(parse_campaign(raw, f"campaigns/m{j}.yml", f"m{j}"))
    return customers, history, model, caps, campaigns


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arm_worlds())
def test_multi_arm_campaigns_keep_consent_night_caps_and_holdout(world) -> None:
    customers, history, model, caps, campaigns = world
    plan = lambda cs: plan_campaigns(  # noqa: E731
        cs, customers, history, SEND_DATE, personal_caps=caps, send_model=model
    )
    planned, again = plan(campaigns), plan(campaigns)
    one_arm = plan([replace(c, arms=(), adaptive_by=None) for c in campaigns])
    by_id = customers.select("customer_id", "has_marketing_consent", "has_night_consent")
    sent = history
    for c in campaigns:
        a = planned[c.campaign_id].assignments
        assert a.equals(again[c.campaign_id].assignments)
        checked = a.join(by_id, on="customer_id").join(local_times(a, customers), on="customer_id")
        assert checked["has_marketing_consent"].fill_null(False).all()
        night = (checked["local"].dt.time() >= time(21)) | (checked["local"].dt.time() < time(8))
        assert checked.filter(night)["has_night_consent"].fill_null(False).all()
        if c.send_window is not None:  # each customer's best hour: in the window, on the day
            assert checked["local"].dt.hour().is_in(window_hours(*c.send_window)).all()
            assert (checked["local"].dt.date() == c.send_date).all()
        # The holdout is the campaign's stable hash, unchanged by the arms.
        units = hash_unit(c.campaign_id, a["customer_id"])
        assert ((units < c.holdout_share) == ~a["is_treatment"]).all()
        hold = lambda x: set(x.filter(~pl.col("is_treatment"))["customer_id"])  # noqa: E731
        assert hold(a) == hold(one_arm[c.campaign_id].assignments)
        assert (a.filter(~pl.col("is_treatment"))["arm_id"] == "holdout").all()
        creative = {arm.arm_id: arm.creative_id for arm in c.arms}
        treated = a.filter("is_treatment")
        assert treated["arm_id"].is_in(list(creative)).all()
        assert (treated["arm_id"].replace_strict(creative) == treated["creative_id"]).all()
        sent = pl.concat([sent, treated.select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)])
    for c in campaigns:
        new = planned[c.campaign_id].treatment.select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)
        same = sent.filter(pl.col("channel") == c.channel)
        for cap, days in {(c.max_sends, c.cap_window_days), FREQUENCY_CAPS[c.channel]}:
            assert _cap_violations(same, new, timedelta(days=days), cap) == 0
        assert personal_cap_violations(same, new, caps) == 0
