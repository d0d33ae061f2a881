"""The training cutoffs and horizon adapt to the history: the asked horizon and as many training
cutoffs as fit, a shorter horizon when the history is too short for it, and a clear error below
the minimum. Every plan keeps the time split: training labels end by the validation cutoff, the
validation window ends at the test cutoff, the test window at the newest data."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dagster_project.lib.models.training import MIN_HORIZON_DAYS, fit_plan, plan_cutoffs

FIRST = datetime(2025, 1, 1)


@pytest.mark.parametrize(
    ("history", "horizon", "train_cutoffs", "line"),
    [
        (240, 30, 6, "history 240 days: 6 training cutoffs 14 days apart, horizon 30 days"),
        (150, 30, 3, "history 150 days: 3 training cutoffs 14 days apart, horizon 30 days"),
        (118, 30, 1, "history 118 days: 1 training cutoff, horizon 30 days"),
        (
            90,
            20,
            1,
            "history 90 days: 1 training cutoff, horizon 20 days (shortened from 30 to fit the"
            " history)",
        ),
        (
            70,
            14,
            1,
            "history 70 days: 1 training cutoff, horizon 14 days (shortened from 30 to fit the"
            " history)",
        ),
    ],
)
def test_the_plan_fits_the_history(history: int, horizon: int, train_cutoffs: int, line: str):
    newest = FIRST + timedelta(days=history)
    plan = fit_plan(FIRST, newest, horizon_days=30, step_days=14, max_train_cutoffs=6)
    assert plan.horizon_days == horizon and len(plan.train) == train_cutoffs
    assert plan.describe() == line
    window = timedelta(days=horizon)
    assert plan.test + window == newest
    assert plan.validation + window == plan.test
    assert max(plan.train) + window <= plan.validation
    assert min(plan.train) >= FIRST + timedelta(days=28)  # 28 days of features first


def test_a_history_below_the_minimum_says_what_it_needs() -> None:
    minimum = 28 + 3 * MIN_HORIZON_DAYS
    fit_plan(FIRST, FIRST + timedelta(days=minimum), 30)
    with pytest.raises(
        ValueError, match=rf"history {minimum - 1} days: too short.*at least {minimum} days"
    ):
        fit_plan(FIRST, FIRST + timedelta(days=minimum - 1), 30)


def test_a_short_asked_horizon_is_kept() -> None:
    plan = fit_plan(FIRST, FIRST + timedelta(days=90), horizon_days=14)
    # test day 76, validation 62, training 48 and 34 (day 20 has under 28 days of features)
    assert plan.horizon_days == 14 and len(plan.train) == 2
    assert plan.describe() == "history 90 days: 2 training cutoffs 14 days apart, horizon 14 days"


@pytest.mark.parametrize(("horizon", "step"), [(90, 7), (30, 14), (28, 14)])
def test_refit_cutoffs_lie_between_the_last_training_and_the_validation_cutoff(
    horizon: int, step: int
) -> None:
    test = datetime(2025, 12, 1)
    plan = plan_cutoffs(test, FIRST, horizon, step, 4, refit_cutoffs=True)
    gaps = {b - a for a, b in zip(plan.refit, plan.refit[1:], strict=False)}
    assert plan.refit, plan
    assert max(plan.train) < min(plan.refit) and max(plan.refit) < plan.validation
    assert gaps <= {timedelta(days=step)} and plan.validation - max(plan.refit) == timedelta(step)
    assert max(plan.refit) + timedelta(days=horizon) <= test  # labels end before the test cutoff
    assert min(plan.refit) - max(plan.train) <= timedelta(days=step)  # no cutoff left out
    assert plan_cutoffs(test, FIRST, horizon, step, 4).refit == []  # only when asked
