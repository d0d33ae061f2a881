"""Send times, personal caps and multi-arm campaigns: bad input, the audience rules with arms,
personal caps and best-in-window send times, and recovery of the simulator's planted truth."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from dagster_project.lib.campaigns.audience import (
    HISTORY_SCHEMA,
    build_audience,
    is_night,
    plan_campaigns,
)
from dagster_project.lib.campaigns.config import CampaignError, parse_campaign
from dagster_project.lib.crm import lab
from dagster_project.lib.crm.caps import fit_caps
from dagster_project.lib.crm.send_time import best_hours, fit_send_times, raw_argmax
from dagster_project.lib.simulate.params import WorldConfig

SEND = date(2025, 11, 3)
BASE = {
    "channel": "app_push",
    "send": {"date": "2025-11-03", "time": "19:00"},
    "holdout_share": 0.1,
    "segment": {"column": "has_marketing_consent", "op": "==", "value": True},
}
ARMS = [
    {"arm_id": "a", "creative_id": "cr_a", "share": 0.5},
    {"arm_id": "b", "creative_id": "cr_b", "share": 0.3},
    {"arm_id": "c", "creative_id": "cr_c", "share": 0.2},
]


def _campaign(**extra):
    return parse_campaign(BASE | extra, "campaigns/test.yml", "test")


def test_bad_arms_name_the_file_and_field():
    bad = [dict(a) for a in ARMS]
    bad[2]["share"] = 0.1
    with pytest.raises(CampaignError, match=r"campaigns/test.yml: arms: the shares sum to 0.9"):
        _campaign(arms=bad)
    bad = [dict(a) for a in ARMS]
    del bad[1]["creative_id"]
    with pytest.raises(CampaignError, match=r"test.yml: arms\[1\] \(b\): missing creative_id"):
        _campaign(arms=bad)
    with pytest.raises(CampaignError, match="send_time.window"):
        _campaign(send_time={"mode": "best_in_window"})


def test_missing_inputs_name_the_file_and_what_to_build():
    who = pl.DataFrame(
        {"customer_id": ["C1"], "has_marketing_consent": [True], "has_night_consent": [True]}
    )
    adaptive = _campaign(arms=ARMS, adaptive={"mode": "thompson", "by": "browsing_type"})
    with pytest.raises(ValueError, match=r"campaigns/test.yml: .*lacks column\(s\) browsing_type"):
        plan_campaigns([adaptive], who, pl.DataFrame(schema=HISTORY_SCHEMA), SEND)
    timed = _campaign(send_time={"mode": "best_in_window", "window": ["10:00", "22:00"]})
    with pytest.raises(ValueError, match=r"campaigns/test.yml: .*gold.crm_send_times"):
        plan_campaigns([timed], who, pl.DataFrame(schema=HISTORY_SCHEMA), SEND)


@pytest.fixture(scope="module")
def customers():
    rng = np.random.default_rng(3)
    n = 4000
    return pl.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "has_marketing_consent": rng.random(n) < 0.8,
            "has_night_consent": rng.random(n) < 0.4,
            "browsing_type": rng.choice(["meticulous", "mania", "easygoing"], n),
        }
    )


def test_arms_keep_the_holdout_and_follow_the_shares(customers):
    one = build_audience(_campaign(), customers, pl.DataFrame(schema=HISTORY_SCHEMA), SEND)
    multi = build_audience(
        _campaign(arms=ARMS), customers, pl.DataFrame(schema=HISTORY_SCHEMA), SEND
    )
    hold = lambda a: set(a.assignments.filter(~pl.col("is_treatment"))["customer_id"])  # noqa: E731
    assert hold(one) == hold(multi)  # the holdout does not move when arms are added
    t = multi.treatment
    share = t.group_by("arm_id").len().with_columns(s=pl.col("len") / t.height)
    got = dict(share.select("arm_id", "s").iter_rows())
    assert all(abs(got[a["arm_id"]] - a["share"]) < 0.04 for a in ARMS)
    assert (multi.assignments.filter(~pl.col("is_treatment"))["arm_id"] == "holdout").all()
    creative = dict(t.select("arm_id", "creative_id").unique().iter_rows())
    assert creative == {"a": "cr_a", "b": "cr_b", "c": "cr_c"}
    again = build_audience(
        _campaign(arms=ARMS), customers, pl.DataFrame(schema=HISTORY_SCHEMA), SEND
    )
    assert again.assignments.equals(multi.assignments)


def test_personal_caps_and_night_consent_hold(customers):
    rng = np.random.default_rng(5)
    k = 6000
    history = pl.DataFrame(
        {
            "customer_id": rng.choice(customers["customer_id"].to_numpy(), k),
            "channel": "app_push",
            "sent_at": [
                datetime(2025, 10, 28) + timedelta(hours=int(h)) for h in rng.integers(0, 150, k)
            ],
        },
        schema=HISTORY_SCHEMA,
    )
    caps = customers.select(
        "customer_id", max_sends=pl.Series(rng.integers(1, 4, customers.height)), window_days=7
    )
    hours = customers.select(
        "customer_id", send_hour=pl.Series(rng.choice([9, 20, 22, 23], customers.height))
    )
    campaign = _campaign(
        arms=ARMS, send_time={"mode": "best_in_window", "window": ["09:00", "23:59"]}
    )
    aud = build_audience(campaign, customers, history, SEND, personal_caps=caps, send_hours=hours)
    a = aud.assignments.join(customers, on="customer_id")
    night = a.filter(is_night(pl.col("send_local").dt.time()))
    assert night.height and night["has_night_consent"].all()
    assert a["has_marketing_consent"].all()
    near = (
        a.select("customer_id", "sent_at")
        .join(history, on="customer_id", suffix="_h")
        .filter((pl.col("sent_at_h") - pl.col("sent_at")).abs() < timedelta(days=7))
        .group_by("customer_id")
        .len()
        .join(caps, on="customer_id")
    )
    assert (near["len"] < near["max_sends"]).all()
    assert aud.funnel["excluded_frequency_cap"] > 0


@pytest.fixture(scope="module")
def world():
    return lab.lab_world(WorldConfig(customers=3000, days=120, seed=31))


def test_send_times_beat_one_fixed_time_and_the_raw_mode(world):
    who = world.customers
    i = who["i"].to_numpy()
    t = lab.EXPLORE_DAYS
    dow = world.dow(t)

    def true_weight(model):
        h = best_hours(model, who, world.day(t), lab.WINDOW)["send_hour"].to_numpy()
        return float(world.truth.hour_weight[i, dow * 24 + h].mean())

    model = true_weight(fit_send_times(world.sessions, who))
    fixed = float(world.truth.hour_weight[i, dow * 24 + 19].mean())
    assert model > 1.15 * fixed
    assert model > true_weight(raw_argmax(world.sessions, who))
    chosen = best_hours(fit_send_times(world.sessions, who), who, world.day(t), lab.WINDOW)
    night_sends = chosen.join(who, on="customer_id").filter(pl.col("send_hour") >= 21)
    assert night_sends["has_night_consent"].all()


def test_caps_recover_tolerance_better_than_the_segment(world):
    acc = lab.caps_accuracy(world)
    personal, segment = acc["mae"].to_list()
    assert personal < segment
    model = fit_caps(world.history, lab._segments(world), 3)
    assert model.table["max_sends"].is_between(1, 3).all()
