"""The exposure-level measurement (lib/attribution/exposure_lift.py) on a planted panel: a paid
channel targets customers who visited the day before (so the exposed buy more anyway), its
impression lifts visits and orders, and a visit brings its targeting back. The truth is the
same panel re-drawn with the channel off on the same random numbers."""

from __future__ import annotations

from datetime import date

import numpy as np
from scipy.stats import poisson

from dagster_project.lib.attribution.exposure_lift import (
    Panel,
    Study,
    exposure_lift,
    sample_panel,
)

N, DAYS, LIFT, DECAY = 6_000, 150, 1.0, np.exp(-1 / 2)


def _world(
    seed: int, channel_on: bool, episodes: bool = False, holdout: float = 0.0
) -> tuple[Panel, int]:
    """`episodes`: a latent shopping state (unseen by the panel) that makes a customer buy and
    be targeted more, the confounding of search ads; `holdout`: a lift study over the whole
    window holding that share of the customers out, their would-be exposures logged as ghosts."""
    rng = np.random.default_rng(seed)
    rate = 0.006 * rng.lognormal(0.0, 0.8, N)  # orders a day, very unequal across customers
    u_visit, u_order, u_expose, u_state = (rng.random((N, DAYS)) for _ in range(4))
    held = rng.random(N) < holdout
    visits = np.zeros((N, DAYS), np.int16)
    orders = np.zeros((N, DAYS), np.int16)
    exposed = np.zeros((N, DAYS), bool)
    ghosts = np.zeros((N, DAYS), bool)
    lift = np.zeros(N)
    state = np.zeros(N, bool)
    for d in range(DAYS):
        if episodes:  # enter with 5 % a day, stay with 75 %
            state = np.where(state, u_state[:, d] < 0.75, u_state[:, d] < 0.05)
        came = visits[:, d - 1] > 0 if d else np.zeros(N, bool)
        p_expose = np.where(came, 0.25, 0.01) * np.where(state, 2.5, 1.0)
        would = channel_on & (u_expose[:, d] < p_expose)
        exposed[:, d], ghosts[:, d] = would & ~held, would & held
        lift = DECAY * lift + LIFT * exposed[:, d]
        mult = np.where(state, 3.0, 1.0) * (1 + lift)
        visits[:, d] = poisson.ppf(u_visit[:, d], 15 * rate * mult)
        orders[:, d] = poisson.ppf(u_order[:, d], rate * mult)
    zeros = np.zeros((N, DAYS), np.int16)
    panel = Panel(
        first_day=date(2025, 1, 6),
        signup=np.full(N, -1),
        birth_year=rng.integers(1960, 2005, N).astype(float),
        visits=visits,
        views=zeros,
        carts=zeros,
        orders=orders,
        first_orders=zeros,
        revenue=orders * 50_000.0,
        exposures={"search_ads": exposed},
        ghosts={"search_ads": ghosts} if holdout else {},
        studies=[Study("search_ads", held, ~held, 0, DAYS - 1)] if holdout else [],
    )
    return panel, int(orders.sum())


def test_exposure_lift_recovers_the_planted_incremental_orders_where_a_naive_contrast_does_not():
    panel, orders_on = _world(0, True)
    _, orders_off = _world(0, False)
    result = exposure_lift(panel, window_days=7, control_rows=150_000)
    row = result.summary.row(0, named=True)
    # the measured exposures are those with a full history and window: scale the truth to them
    exposed = panel.exposures["search_ads"]
    measured = exposed[:, 28 : DAYS - 7 + 1].sum() / exposed.sum()
    truth = (orders_on - orders_off) * measured
    assert truth > 300
    assert abs(row["incremental_orders"] / truth - 1) <= 0.15, (row, truth)
    assert row["low"] <= truth <= row["high"], (row, truth)
    # Naive: the exposed customer-days' window orders against all the others'.
    y = np.pad(np.cumsum(panel.orders, axis=1), ((0, 0), (1, 0)))
    window = (y[:, 7:] - y[:, :-7])[:, 28 : DAYS - 7 + 1]
    hit = exposed[:, 28 : DAYS - 7 + 1]
    naive = (window[hit].mean() - window[~hit].mean()) * hit.sum()
    assert naive / truth - 1 > 0.5, (naive, truth)
    # The weekly credit sums to the channel's total.
    weekly = result.weekly.filter(scope="all")["conversions"].sum()
    assert abs(weekly - row["incremental_orders"]) < 1e-6 * max(1.0, abs(weekly))


def _truth(panel: Panel, orders_on: int, orders_off: int) -> float:
    """The re-simulated truth scaled to the exposures with a full history and window."""
    exposed = panel.exposures["search_ads"]
    return (orders_on - orders_off) * exposed[:, 28 : DAYS - 7 + 1].sum() / exposed.sum()


def test_a_lift_study_calibrates_the_level_biased_by_an_unseen_shopping_state():
    """Targeting follows a state the panel cannot see: the observational estimate is biased
    high; the randomized holdout's intent-to-treat estimate sets the level, and the calibrated
    figure recovers the truth inside its (wider) interval."""
    panel, orders_on = _world(1, True, episodes=True, holdout=0.3)
    _, orders_off = _world(1, False, episodes=True, holdout=0.3)
    truth = _truth(panel, orders_on, orders_off)
    row = exposure_lift(panel, control_rows=150_000).summary.row(0, named=True)
    assert row["observational_orders"] / truth - 1 > 0.25, (row, truth)
    assert abs(row["incremental_orders"] / truth - 1) <= 0.2, (row, truth)
    assert row["low"] <= truth <= row["high"], (row, truth)
    assert row["observational_orders"] > row["high"], row  # the study excludes the old figure
    assert row["study_customers"] == N


def test_a_sample_of_the_customers_estimates_the_whole_panel_within_its_standard_error():
    panel, _ = _world(0, True)
    full = exposure_lift(panel, control_rows=150_000).summary.row(0, named=True)
    half = sample_panel(panel, N // 2, seed=3)
    assert half.visits.shape[0] == N // 2 and half.scale == 2.0
    part = exposure_lift(half, control_rows=150_000).summary.row(0, named=True)
    # the sample's se is honest: about sqrt(2) x the full panel's, not the full panel's
    assert 1.2 < part["se"] / full["se"] < 1.7, (part, full)
    assert abs(part["incremental_orders"] - full["incremental_orders"]) <= part["se"], (part, full)
    assert abs(part["exposures"] / full["exposures"] - 1) < 0.05
