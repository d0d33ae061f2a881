"""The simulator's event-driven intent (simulate/intent.py): triggers come from the world's
bookmark and abandoned-cart events, the truth's probabilities are what re-simulation on the
trigger's own random numbers realises, and a reminder is worth most on the trigger day."""

from __future__ import annotations

import numpy as np
import polars as pl

from dagster_project.lib.simulate import WorldConfig, intent, simulate
from dagster_project.lib.simulate._rng import Streams

CFG = WorldConfig(customers=3000, days=45, seed=5, counterfactuals=False)


def test_intent_truth_and_common_random_numbers() -> None:
    world = simulate(CFG)
    truth = world.truth["trigger_intent"]
    events = world.tables["events"]
    # One trigger per bookmark (customer, product, day); carts only without a purchase.
    marks = events.filter(pl.col("event_type") == "bookmark")
    assert (
        truth.filter(pl.col("kind") == "bookmark").height
        == marks.with_columns(d=pl.col("occurred_at").dt.convert_time_zone(CFG.timezone).dt.date())
        .select("customer_id", "product_id", "d")
        .unique()
        .height
    )
    # A reminder is worth most on the trigger day and fades over the window.
    lags = [truth[f"p_with_day_{k}"].mean() for k in range(intent.INTENT_DAYS)]
    assert truth["p_without"].mean() < lags[-1] < lags[0]
    assert all(a > b for a, b in zip(lags, lags[1:], strict=False))
    assert (truth["true_uplift"] > 0).all()

    st = Streams(CFG.seed)
    none = np.full(truth.height, intent.NO_REMINDER)
    day = truth["trigger_day"].to_numpy()
    without = intent.outcomes(st, truth, none) >= 0
    reminded = intent.outcomes(st, truth, day) >= 0
    # Common random numbers: a reminder never loses a purchase that would have happened.
    assert not (without & ~reminded).any()
    # The realised purchase rates match the truth's probabilities (4.5 standard errors).
    for realised, p in ((without, truth["p_without"]), (reminded, truth["p_with_day_0"])):
        p = p.to_numpy()
        se = np.sqrt((p * (1 - p)).sum()) / p.size
        assert abs(realised.mean() - p.mean()) < 4.5 * se
    # Same inputs, same outcomes (deterministic).
    assert (intent.outcomes(Streams(CFG.seed), truth, day) == intent.outcomes(st, truth, day)).all()


def test_reminder_days_cover_only_the_triggers_window() -> None:
    from datetime import date, datetime

    tr = pl.DataFrame(
        {
            "customer_id": ["C1", "C1", "C2"],
            "product_id": ["P1", "P1", "P1"],
            "trigger_day": [0, 10, 0],
        }
    )
    # 2025-05-01 is day 0; 01:00 UTC is 10:00 in Seoul.
    sends = pl.DataFrame(
        {"customer_id": ["C1"], "product_id": ["P1"], "sent_at": [datetime(2025, 5, 3, 1)]}
    )
    got = intent.reminder_days(tr, sends, date(2025, 5, 1), "Asia/Seoul")
    assert got.tolist() == [2, intent.NO_REMINDER, intent.NO_REMINDER]
