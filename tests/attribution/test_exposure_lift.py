"""The exposure-level measurement (lib/attribution/exposure_lift.py) on a planted panel: a paid
channel targets customers who visited the day before (so the exposed buy more anyway), its
impression lifts visits and orders, and a visit brings its targeting back. The truth is the
same panel re-drawn with the channel off on the same random numbers."""

from __future__ import annotations

from datetime import date

import numpy as np
from scipy.stats import poisson

from dagster_project.lib.attribution.exposure_lift import Panel, exposure_lift

N, DAYS, LIFT, DECAY = 6_000, 150, 1.0, np.exp(-1 / 2)


def _world(seed: int, channel_on: bool) -> tuple[Panel, int]:
    rng = np.random.default_rng(seed)
    rate = 0.006 * rng.lognormal(0.0, 0.8, N)  # orders a day, very unequal across customers
    u_visit, u_order, u_expose = (rng.random((N, DAYS)) for _ in range(3))
    visits = np.zeros((N, DAYS), np.int16)
    orders = np.zeros((N, DAYS), np.int16)
    exposed = np.zeros((N, DAYS), bool)
    lift = np.zeros(N)
    for d in range(DAYS):
        came = visits[:, d - 1] > 0 if d else np.zeros(N, bool)
        exposed[:, d] = channel_on & (u_expose[:, d] < np.where(came, 0.25, 0.01))
        lift = DECAY * lift + LIFT * exposed[:, d]
        visits[:, d] = poisson.ppf(u_visit[:, d], 15 * rate * (1 + lift))
        orders[:, d] = poisson.ppf(u_order[:, d], rate * (1 + lift))
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
