"""Hand-computed small cases for every model, and the sums every model must keep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from dagster_project.lib.attribution import models
from dagster_project.lib.attribution.journeys import BASELINE, Journeys, journeys_from_touches

T0 = datetime(2025, 5, 1, tzinfo=UTC)


def make(paths: list[tuple[str, bool, float]], days_apart: float = 1.0) -> Journeys:
    """Journeys from 'A>B>C' paths with (path, converted, revenue); touches a day apart, the
    last one a day before the journey's end."""
    touches, outcomes = [], []
    for n, (path, converted, revenue) in enumerate(paths):
        jid = f"J{n:03d}"
        channels = path.split(">") if path else []
        end = T0 + timedelta(days=len(channels) * days_apart)
        for k, ch in enumerate(channels):
            touches.append(
                {
                    "journey_id": jid,
                    "touched_at": T0 + timedelta(days=k * days_apart),
                    "channel": ch,
                }
            )
        outcomes.append(
            {"journey_id": jid, "converted": converted, "revenue": revenue, "as_of": end}
        )
    return journeys_from_touches(
        pl.DataFrame(
            touches,
            schema={
                "journey_id": pl.Utf8,
                "touched_at": pl.Datetime("us", "UTC"),
                "channel": pl.Utf8,
            },
        ),
        pl.DataFrame(outcomes),
    )


def channel_credit(jr: Journeys, weights: np.ndarray) -> dict[str, float]:
    c = models.credit(jr, weights, "m", "all")
    return dict(zip(c["channel"], c["conversions"], strict=True))


def test_rule_based_models_by_hand():
    jr = make([("A>B>C", True, 100.0), ("B", True, 50.0), ("C>A", False, 0.0)])
    assert channel_credit(jr, models.last_click(jr)) == pytest.approx({"C": 1, "B": 1})
    assert channel_credit(jr, models.first_click(jr)) == pytest.approx({"A": 1, "B": 1})
    assert channel_credit(jr, models.linear(jr)) == pytest.approx(
        {"A": 1 / 3, "B": 1 + 1 / 3, "C": 1 / 3}
    )
    assert channel_credit(jr, models.position_based(jr)) == pytest.approx(
        {"A": 0.4, "B": 1.2, "C": 0.4}
    )
    # Days before conversion 3, 2, 1 with a 1-day half-life: weights 1/8, 1/4, 1/2 -> /(7/8).
    td = channel_credit(jr, models.time_decay(jr, half_life_days=1.0))
    assert td == pytest.approx({"A": 1 / 7, "B": 2 / 7 + 1, "C": 4 / 7})


def test_position_based_two_touches_split_evenly():
    jr = make([("A>B", True, 10.0)])
    assert channel_credit(jr, models.position_based(jr)) == pytest.approx({"A": 0.5, "B": 0.5})


def test_markov_order_1_removal_effects_by_hand():
    # start->A 2/3, start->B 1/3; A->B 1/2, A->null 1/2; B->conv 1. P(conv) = 2/3.
    # Without A: 1/3 -> effect 1/2. Without B: 0 -> effect 1.
    jr = make([("A>B", True, 1.0), ("A", False, 0.0), ("B", True, 1.0)])
    result = models.markov_removal_effects(jr, order=1)
    assert result.conversion_probability == pytest.approx(2 / 3)
    assert dict(zip(jr.channels, result.removal_effects, strict=True)) == pytest.approx(
        {"A": 0.5, "B": 1.0}
    )
    weights, _ = models.markov(jr, 1)
    # A>B splits 0.5 : 1 -> A 1/3, B 2/3; B alone gets 1.
    assert channel_credit(jr, weights) == pytest.approx({"A": 1 / 3, "B": 5 / 3})


def test_markov_order_2_sees_what_order_1_mixes():
    # A>B converts, C>B does not, C alone does not. Order 1 mixes the two B's:
    # P = 1/3 * 1/2 + 2/3 * 1/4 = 1/3; without A 1/6, without C 1/6, without B 0.
    # Order 2 keeps (A,B) and (C,B) apart: only A>B converts, so C has no effect.
    jr = make([("A>B", True, 1.0), ("C>B", False, 0.0), ("C", False, 0.0)])
    first = models.markov_removal_effects(jr, order=1)
    assert first.conversion_probability == pytest.approx(1 / 3)
    assert dict(zip(jr.channels, first.removal_effects, strict=True)) == pytest.approx(
        {"A": 0.5, "B": 1.0, "C": 0.5}
    )
    second = models.markov_removal_effects(jr, order=2)
    assert second.conversion_probability == pytest.approx(1 / 3)
    assert dict(zip(jr.channels, second.removal_effects, strict=True)) == pytest.approx(
        {"A": 1.0, "B": 1.0, "C": 0.0}
    )
    weights, _ = models.markov(jr, 2)
    assert channel_credit(jr, weights) == pytest.approx({"A": 0.5, "B": 0.5})


def test_markov_is_identical_across_runs():
    rng = np.random.default_rng(3)
    paths = [
        (">".join(rng.choice(list("ABCDE"), size=rng.integers(1, 6))), bool(c), float(c))
        for c in rng.random(400) < 0.3
    ]
    jr = make(paths)
    for order in (1, 2, 3):
        a = models.markov_removal_effects(jr, order).removal_effects
        b = models.markov_removal_effects(make(paths), order).removal_effects
        assert np.array_equal(a, b)


def test_funnel_markov_states_are_channel_and_stage():
    touches = pl.DataFrame(
        {
            "journey_id": ["J1", "J1", "J2", "J2"],
            "touched_at": [T0, T0 + timedelta(hours=1), T0, T0 + timedelta(hours=1)],
            "channel": ["A", "B", "A", "B"],
            "funnel_stage": ["exposed", "cart", "exposed", "visit"],
        }
    )
    outcomes = pl.DataFrame(
        {"journey_id": ["J1", "J2"], "converted": [True, False], "revenue": [5.0, 0.0]}
    )
    jr = journeys_from_touches(touches, outcomes)
    weights, result = models.funnel_markov(jr)
    # (A,exposed) -> (B,cart) converts, -> (B,visit) does not: P = 1/2; either channel removed: 0.
    assert result.conversion_probability == pytest.approx(0.5)
    assert result.removal_effects == pytest.approx([1.0, 1.0])
    assert channel_credit(jr, weights) == pytest.approx({"A": 0.5, "B": 0.5})


def test_shapley_values_by_hand():
    # v(A) = 1/4, v(B) = 2/4, v(AB) = 2/2, v() = 0.
    # phi_A(AB) = 1/2 v(A) + 1/2 (v(AB) - v(B)) = 0.375, phi_B = 0.625.
    paths = (
        [("A", True, 1.0)]
        + [("A", False, 0.0)] * 3
        + [("B", True, 1.0)] * 2
        + [("B", False, 0.0)] * 2
        + [("A>B", True, 1.0)] * 2
    )
    jr = make(paths)
    values = models.coalition_values(jr, prior_journeys=0.0)
    assert values[[0, 1, 2, 3]] == pytest.approx([0.0, 0.25, 0.5, 1.0])
    phi = models.shapley_of_coalition(3, values)
    assert phi == pytest.approx({0: 0.375, 1: 0.625})
    weights, _ = models.shapley(jr, prior_journeys=0.0)
    assert channel_credit(jr, weights) == pytest.approx({"A": 1 + 2 * 0.375, "B": 2 + 2 * 0.625})


def test_shapley_three_players_sum_to_the_grand_coalition():
    value = np.array([0.0, 0.1, 0.2, 0.4, 0.3, 0.5, 0.6, 0.9])
    phi = models.shapley_of_coalition(7, value)
    assert sum(phi.values()) == pytest.approx(0.9)
    # phi_0 = 1/3 (0.1) + 1/6 (0.4 - 0.2) + 1/6 (0.5 - 0.3) + 1/3 (0.9 - 0.6)
    assert phi[0] == pytest.approx(0.1 / 3 + 0.2 / 6 + 0.2 / 6 + 0.3 / 3)


@pytest.mark.parametrize(
    "model",
    [
        "last_click",
        "first_click",
        "linear",
        "time_decay",
        "position_based",
        "markov1",
        "markov2",
        "markov3",
        "shapley",
    ],
)
def test_every_model_credits_exactly_the_conversions_and_revenue(model):
    rng = np.random.default_rng(11)
    paths = []
    for _ in range(600):
        path = ">".join(rng.choice(list("ABCDEFGH"), size=rng.integers(0, 7)))
        # An order with no touch in the window is a journey of its own, always converted.
        converted = bool(rng.random() < 0.4) or not path
        paths.append((path, converted, float(rng.integers(1, 9) * 1000) if converted else 0.0))
    jr = make(paths)
    fn = {
        "markov1": lambda: models.markov(jr, 1)[0],
        "markov2": lambda: models.markov(jr, 2)[0],
        "markov3": lambda: models.markov(jr, 3)[0],
        "shapley": lambda: models.shapley(jr)[0],
        "time_decay": lambda: models.time_decay(jr, 3.0),
    }.get(model, lambda: getattr(models, model)(jr))
    credit = models.credit(jr, fn(), model, "all")
    conv = jr.journeys.filter("converted")
    assert credit["conversions"].sum() == pytest.approx(conv.height)
    assert credit["revenue"].sum() == pytest.approx(conv["revenue"].sum())
    assert credit.filter(pl.col("channel") == BASELINE)["conversions"].sum() == pytest.approx(
        conv.filter(pl.col("n_touches") == 0).height
    )
    assert (credit["conversions"] >= -1e-12).all()
