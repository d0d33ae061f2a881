"""Demand dips: days under a share of the usual level, and each dip's targets the customers
who prefer that category most; on the simulator, the family holidays (planted at 0.8x)."""

from __future__ import annotations

from datetime import date

import polars as pl

from dagster_project.lib.forecast.dips import demand_dips, dip_targets


def test_dips_are_days_below_threshold_and_targets_rank_by_preference() -> None:
    ahead = pl.DataFrame(
        {
            "series": ["shoes", "shoes", "bags", "bags"],
            "date": [date(2025, 10, 6), date(2025, 10, 7)] * 2,
            "horizon": [1, 2, 1, 2],
            "forecast": [84.0, 100.0, 40.0, 95.0],
            "forecast_high": [95.0, 110.0, 50.0, 105.0],
            "usual": [100.0, 100.0, 100.0, 100.0],
        }
    )
    dips = demand_dips(ahead, threshold=0.85)
    assert dips.select("category_l1", "date").rows() == [
        ("bags", date(2025, 10, 6)),
        ("shoes", date(2025, 10, 6)),
    ]
    preference = pl.DataFrame(
        {
            "customer_id": ["A", "B", "C", "A", "B", "C"],
            "category_l1": ["shoes"] * 3 + ["bags"] * 3,
            "preference_index": [10.0, 90.0, 90.0, 80.0, 5.0, 1.0],
        }
    )
    targets = dip_targets(dips, preference, per_dip=2)
    assert targets.select("category_l1", "customer_id", "target_rank").rows() == [
        ("bags", "A", 1),
        ("bags", "B", 2),
        ("shoes", "B", 1),  # B and C tie at 90: the id breaks it, the same on every run
        ("shoes", "C", 2),
    ]
