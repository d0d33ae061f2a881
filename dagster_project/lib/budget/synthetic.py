"""Seeded weekly data from planted adstock + Hill curves, in the curves' input format, with the
planted truth in the simulator's truth format (response_curves, channel_response_params) and a
last-click revenue per channel that, as in the marketplace's data, over-credits the channels
that reach customers who were going to buy anyway. For the curve-recovery tests and the fit
benchmark; the policy lab's re-simulation is the end-to-end check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from dagster_project.lib.budget.curves import adstock


@dataclass(frozen=True)
class PlantedChannel:
    channel: str
    mean_spend: float  # KRW per week
    decay: float
    half_saturation: float  # KRW per week
    shape: float
    # incremental revenue per extra KRW at a steady mean spend: sets the curve's scale
    marginal_roas_at_mean: float
    revenue_per_order: float
    first_share: float
    # last-click revenue / true incremental revenue: > 1 for channels that sit on the last click
    # of purchases that would have happened anyway
    last_click_multiplier: float

    @property
    def scale(self) -> float:
        """Incremental orders per week at saturation."""
        s, n = self.mean_spend, self.shape
        r = (s / self.half_saturation) ** n
        return self.marginal_roas_at_mean / self.revenue_per_order * s * (1 + r) ** 2 / (n * r)


# Marginal ROAS at the mean spend 1.5x apart from one channel to the next, so the ranking is
# identifiable from 52 noisy weeks; last-click credit ranks them differently.
PLANTED = (
    PlantedChannel("search_ads", 9e6, 0.1, 8e6, 1.3, 4.0, 52_000, 0.35, 1.2),
    PlantedChannel("shopping", 6e6, 0.2, 4e6, 1.5, 2.7, 58_000, 0.30, 1.5),
    PlantedChannel("affiliate", 4e6, 0.2, 6e6, 1.0, 1.8, 50_000, 0.50, 1.6),
    PlantedChannel("kakaotalk", 2e6, 0.3, 3e6, 1.1, 1.2, 47_000, 0.10, 3.0),
    PlantedChannel("social", 7e6, 0.5, 5e6, 1.2, 0.8, 45_000, 0.55, 1.5),
    PlantedChannel("video", 5e6, 0.7, 1.2e7, 1.8, 0.53, 46_000, 0.45, 0.8),
    PlantedChannel("display", 6e6, 0.6, 9e6, 1.6, 0.35, 48_000, 0.40, 1.0),
    PlantedChannel("retargeting", 8e6, 0.1, 2.5e6, 1.4, 0.23, 55_000, 0.05, 8.0),
)


def planted(channels: int = 8) -> tuple[PlantedChannel, ...]:
    if not 1 <= channels <= len(PLANTED):
        raise ValueError(f"channels: 1 to {len(PLANTED)}, got {channels}")
    return PLANTED[:channels]


def flighted_spend(mean: float, weeks: int, rng: np.random.Generator) -> np.ndarray:
    """Weekly spend that varies as real budgets do: bursts and dark weeks around `mean`."""
    level = rng.gamma(2.0, mean / 2.0, weeks)
    dark = rng.random(weeks) < 0.12
    return np.where(dark, 0.0, level)


def true_orders(ch: PlantedChannel, adstocked: np.ndarray) -> np.ndarray:
    ratio = (adstocked / ch.half_saturation) ** ch.shape
    return ch.scale * ratio / (1 + ratio)


def weekly_world(
    channels: int = 8,
    weeks: int = 52,
    seed: int = 0,
    noise: float = 0.1,
    start: date = date(2025, 1, 6),
    audience_growth: float | None = None,
    current_weeks: int = 13,
) -> dict[str, pl.DataFrame]:
    """'weekly' (the curves' input: channel, week_start, spend, orders, revenue, first_orders,
    incremental outcomes with Poisson noise times a lognormal attribution error of sd `noise`),
    'truth_curves', 'truth_params' and 'last_click' (channel, spend, revenue over the weeks).
    With `audience_growth`, the customer base grows linearly by that factor over the weeks
    (weekly's `customers`) and every outcome with it; the truth's curves are at the mean
    audience of the last `current_weeks` weeks (the current one)."""
    rng = np.random.default_rng(seed)
    week_start = [start + timedelta(weeks=w) for w in range(weeks)]
    customers = 10_000 * np.linspace(1.0, audience_growth or 1.0, weeks)
    audience = customers / customers[-current_weeks:].mean()
    rows, curves, params, last_click = [], [], [], []
    for ch in planted(channels):
        spend = flighted_spend(ch.mean_spend, weeks, rng)
        mu = true_orders(ch, adstock(spend, np.array([ch.decay]))[0]) * audience
        orders = rng.poisson(mu) * rng.lognormal(0.0, noise, weeks)
        first = rng.binomial(np.round(orders).astype(np.int64), ch.first_share)
        rows.append(
            pl.DataFrame(
                {
                    "channel": ch.channel,
                    "week_start": week_start,
                    "spend": spend,
                    "orders": orders,
                    "revenue": orders * ch.revenue_per_order,
                    "first_orders": first.astype(np.float64),
                    **({"customers": customers} if audience_growth else {}),
                }
            )
        )
        grid = np.linspace(0.0, 4 * ch.mean_spend, 201)
        steady = true_orders(ch, grid)
        curves.append(
            pl.DataFrame(
                {
                    "channel": ch.channel,
                    "weekly_spend": grid,
                    "incremental_orders": steady,
                    "incremental_revenue": steady * ch.revenue_per_order,
                }
            )
        )
        params.append(
            {
                "channel": ch.channel,
                "adstock_decay": ch.decay,
                "half_saturation_krw": ch.half_saturation,
                "hill_shape": ch.shape,
            }
        )
        last_click.append(
            {
                "channel": ch.channel,
                "spend": float(spend.sum()),
                "revenue": float(mu.sum()) * ch.revenue_per_order * ch.last_click_multiplier,
            }
        )
    return {
        "weekly": pl.concat(rows),
        "truth_curves": pl.concat(curves),
        "truth_params": pl.DataFrame(params),
        "last_click": pl.DataFrame(last_click),
    }


def true_revenue(weekly_spend: dict[str, float], channels: int = 8) -> float:
    """Incremental revenue per week under the planted curves at steady weekly spends."""
    return float(
        sum(
            true_orders(ch, np.array([weekly_spend.get(ch.channel, 0.0)]))[0] * ch.revenue_per_order
            for ch in planted(channels)
        )
    )
