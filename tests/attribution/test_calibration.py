"""Holdout calibration of the incrementality model: measured lifts with their intervals, and the
credit moved to or from the baseline. A conclusive holdout (its interval excludes zero) sets the
channel's credit on its campaigns; an inconclusive one bounds it by its interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

from dagster_project.lib.attribution.incrementality import (
    IncrementalityResult,
    calibrate,
    holdout_lift,
)
from dagster_project.lib.attribution.journeys import Journeys, journeys_from_touches

T0 = datetime(2025, 5, 1, tzinfo=UTC)


def one_touch_journeys(paths: list[tuple[str, str]]) -> Journeys:
    """One converted journey per (channel, campaign) pair, with that single touch."""
    touches = pl.DataFrame(
        {
            "journey_id": [f"J{n}" for n in range(len(paths))],
            "touched_at": [T0] * len(paths),
            "channel": [channel for channel, _ in paths],
            "campaign_id": [campaign for _, campaign in paths],
        }
    )
    outcomes = pl.DataFrame(
        {
            "journey_id": touches["journey_id"],
            "converted": [True] * len(paths),
            "revenue": [1.0] * len(paths),
            "as_of": [T0 + timedelta(days=1)] * len(paths),
        }
    )
    return journeys_from_touches(touches, outcomes)


def model_result(jr: Journeys, weight: float) -> IncrementalityResult:
    """Every touch gets `weight` of its journey's conversion, the rest is the baseline's."""
    return IncrementalityResult(
        weights=np.full(jr.touches.height, weight),
        baseline_share=np.full(jr.journeys.height, 1.0 - weight),
        channel_effect={},
        auc=0.5,
        training_rows=0,
        features=[],
    )


def lift_of(campaign: str, channel: str, measured: float, se: float) -> pl.DataFrame:
    z = stats.norm.ppf(0.975)
    return pl.DataFrame(
        {
            "campaign_id": [campaign],
            "channel": [channel],
            "measured": [measured],
            "se": [se],
            "low": [measured - z * se],
            "high": [measured + z * se],
        }
    )


def credit_by_channel(jr: Journeys, result: IncrementalityResult) -> dict[str, float]:
    frame = jr.touches.select("channel").with_columns(credit=result.weights)
    totals = frame.group_by("channel").agg(pl.col("credit").sum())
    return dict(zip(totals["channel"], totals["credit"], strict=True))


def test_holdout_lift_is_welchs_difference_times_treated():
    rng = np.random.default_rng(3)
    treated, holdout = rng.poisson(0.30, 400), rng.poisson(0.20, 100)
    sends = pl.DataFrame(
        {
            "campaign_id": "C1",
            "channel": "email",
            "is_treatment": [True] * 400 + [False] * 100,
            "orders": np.concatenate([treated, holdout]),
        }
    )
    lift = holdout_lift(sends).row(0, named=True)
    se = np.sqrt(treated.var(ddof=1) / 400 + holdout.var(ddof=1) / 100)
    assert lift["measured"] == pytest.approx((treated.mean() - holdout.mean()) * 400)
    assert lift["se"] == pytest.approx(se * 400)
    assert lift["high"] - lift["measured"] == pytest.approx(stats.norm.ppf(0.975) * se * 400)


def test_credit_above_a_conclusive_holdout_is_cut_to_its_measurement_and_given_to_the_baseline():
    # A's model credit on campaign CA is 4 x 0.8 = 3.2; the holdout says 1.0 +- 1.96 x 0.1.
    jr = one_touch_journeys([("A", "CA")] * 4 + [("B", "CB")] * 2)
    before = model_result(jr, 0.8)
    after = calibrate(jr, before, lift_of("CA", "A", 1.0, 0.1))

    assert credit_by_channel(jr, after) == pytest.approx({"A": 1.0, "B": 1.6})
    assert after.channel_effect == pytest.approx({"A": 1.0, "B": 1.6})
    row = after.calibration.row(0, named=True)
    assert row["model"] == pytest.approx(3.2)
    assert row["target"] == pytest.approx(1.0) == row["calibrated"]
    # Each converted journey still adds up to its one conversion.
    per_journey = np.bincount(jr.arrays()[0], weights=after.weights) + after.baseline_share
    np.testing.assert_allclose(per_journey, 1.0)


def test_credit_inside_an_inconclusive_holdouts_interval_is_left_alone():
    # 2.1 +- 1.96 x 1.5 includes zero: the experiment cannot tell, the model's 2.0 stands.
    jr = one_touch_journeys([("A", "CA")] * 4)
    before = model_result(jr, 0.5)
    after = calibrate(jr, before, lift_of("CA", "A", 2.1, 1.5))
    np.testing.assert_array_equal(after.weights, before.weights)
    np.testing.assert_array_equal(after.baseline_share, before.baseline_share)


def test_a_conclusive_holdout_sets_the_credit_even_inside_its_interval():
    # 2.6 +- 1.96 x 0.5 excludes zero: the randomized measurement, not the model's 2.0, is used.
    jr = one_touch_journeys([("A", "CA")] * 4)
    after = calibrate(jr, model_result(jr, 0.5), lift_of("CA", "A", 2.6, 0.5))
    assert credit_by_channel(jr, after)["A"] == pytest.approx(2.6)


def test_credit_below_the_interval_takes_no_more_than_the_baseline_holds():
    # The model gives A 4 x 0.5 = 2.0 of these 4 conversions; the holdout says 3.9 +- 0.02: A rises
    # to 3.9, taken from the baseline.
    jr = one_touch_journeys([("A", "CA")] * 4)
    roomy = calibrate(jr, model_result(jr, 0.5), lift_of("CA", "A", 3.9, 0.01))
    assert credit_by_channel(jr, roomy)["A"] == pytest.approx(3.9)

    # A holdout lift of 5 (noise, or conversions outside these journeys) cannot be met: the
    # journeys hold 4 conversions, so A gets all 4 and the baseline nothing, never less.
    tight = calibrate(jr, model_result(jr, 0.9), lift_of("CA", "A", 5.0, 0.01))
    assert credit_by_channel(jr, tight)["A"] == pytest.approx(4.0)
    assert tight.calibration["target"][0] > 4.9
    assert tight.calibration["calibrated"][0] == pytest.approx(4.0)
    np.testing.assert_allclose(tight.baseline_share, 0.0, atol=1e-12)


def test_a_harmful_looking_holdout_never_makes_credit_negative():
    # The holdout interval lies below zero (-3 +- 0.2): the credit goes to zero, not below.
    jr = one_touch_journeys([("A", "CA")] * 4)
    after = calibrate(jr, model_result(jr, 0.5), lift_of("CA", "A", -3.0, 0.1))
    assert credit_by_channel(jr, after)["A"] == pytest.approx(0.0)
    assert after.weights.min() >= 0
    np.testing.assert_allclose(after.baseline_share, 1.0)


def test_calibration_compares_credit_within_the_campaigns_response_window():
    """Like with like: a 3-day holdout window is compared with the credit to conversions within
    3 days of the campaign's touch, not with credit to conversions weeks later."""
    near = one_touch_journeys([("A", "CA")] * 2)
    touches = pl.concat(
        [
            near.touches.join(near.journeys, on="j").select(
                "journey_id", "touched_at", "channel", "campaign_id"
            ),
            pl.DataFrame(
                {
                    "journey_id": ["JF0", "JF1"],
                    "touched_at": [T0, T0],
                    "channel": ["A", "A"],
                    "campaign_id": ["CA", "CA"],
                }
            ),
        ]
    )
    outcomes = pl.DataFrame(
        {
            "journey_id": ["J0", "J1", "JF0", "JF1"],
            "converted": [True] * 4,
            "revenue": [1.0] * 4,
            "as_of": [T0 + timedelta(days=1)] * 2 + [T0 + timedelta(days=20)] * 2,
        }
    )
    jr = journeys_from_touches(touches, outcomes)
    lift = lift_of("CA", "A", 1.0, 0.05).with_columns(response_window_days=pl.lit(3.0))
    after = calibrate(jr, model_result(jr, 0.5), lift)
    # Within 3 days the model credits 2 x 0.5 = 1.0, inside the interval: nothing moves (the
    # far conversions' 1.0 would have put it outside).
    assert after.calibration["model"][0] == pytest.approx(1.0)
    np.testing.assert_array_equal(after.weights, model_result(jr, 0.5).weights)


def test_holdout_sends_use_each_campaigns_own_response_window():
    import duckdb

    from dagster_project.lib.attribution.warehouse import holdout_sends

    con = duckdb.connect()
    con.execute("create schema silver; create schema gold")
    con.execute(
        """
        create table silver.int_campaign_sends__conformed as
        select * from (values
            ('S1', 'K3', 'C1', 'kakaotalk', true, timestamp '2025-05-01 10:00'),
            ('S2', 'K3', 'C2', 'kakaotalk', false, timestamp '2025-05-01 10:00'),
            ('S3', 'K10', 'C1', 'kakaotalk', true, timestamp '2025-05-01 10:00')
        ) as t(send_id, campaign_id, customer_id, channel, is_treatment, assigned_at);
        create table silver.int_orders__enriched as
        select * from (values ('O1', 'C1', timestamp '2025-05-06 12:00'))
            as t(order_id, customer_id, ordered_at);
        create table gold.dim_dates as select timestamp '2025-06-01' as day_end_at;
        create table gold.campaign_assignments as
        select * from (values ('K3', 3)) as t(campaign_id, response_window_days);
        """
    )
    sends = holdout_sends(con)
    by_campaign = dict(zip(sends["campaign_id"], sends["response_window_days"], strict=True))
    assert by_campaign == {"K3": 3, "K10": 7}
    orders = {
        (r["campaign_id"], r["is_treatment"]): r["orders"] for r in sends.iter_rows(named=True)
    }
    # The order 5 days after assignment is outside K3's own 3-day window, inside the default 7.
    assert orders == {("K3", True): 0, ("K3", False): 0, ("K10", True): 1}
