"""The incrementality model's credit by business week: every credited conversion lands in its
conversion's week (business time zone), per channel and scope, and the totals reconcile."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from dagster_project.lib.attribution.incrementality import IncrementalityResult
from dagster_project.lib.attribution.journeys import Journeys
from dagster_project.lib.attribution.weekly import weekly_credit


def test_weekly_credit_by_conversion_week_channel_and_scope() -> None:
    journeys = pl.DataFrame(
        {
            "j": pl.Series([0, 1, 2], dtype=pl.UInt32),
            "journey_id": ["a", "b", "c"],
            "customer_id": ["x", "y", "z"],
            "converted": [True, True, False],
            "revenue": [10_000.0, 30_000.0, 0.0],
            "scope": ["first", "repeat", "first"],
            # 2025-03-09 20:00 UTC is Monday 2025-03-10 05:00 in Seoul: the next week
            "as_of": [
                datetime(2025, 3, 5, 12, tzinfo=UTC),
                datetime(2025, 3, 9, 20, tzinfo=UTC),
                datetime(2025, 3, 6, tzinfo=UTC),
            ],
            "n_touches": [2, 1, 1],
        }
    )
    touches = pl.DataFrame(
        {
            "j": pl.Series([0, 0, 1, 2], dtype=pl.UInt32),
            "channel": ["search_ads", "display", "search_ads", "display"],
            "ch": [0, 1, 0, 1],
        }
    )
    jr = Journeys(touches, journeys, ("search_ads", "display"))
    carry = np.zeros((3, 2))
    carry[1, 1] = 0.1  # display carried into journey b without a touch
    result = IncrementalityResult(
        weights=np.array([0.5, 0.2, 0.6, 0.9]),
        baseline_share=np.array([0.3, 0.3, 1.0]),
        channel_effect={},
        auc=0.5,
        training_rows=0,
        features=[],
        carryover=carry,
    )
    out = weekly_credit(jr, result, "Asia/Seoul")
    rows = {(r["week_start"], r["channel"], r["scope"]): r for r in out.iter_rows(named=True)}
    w1, w2 = date(2025, 3, 3), date(2025, 3, 10)
    assert rows[(w1, "search_ads", "all")]["conversions"] == pytest.approx(0.5)
    assert rows[(w1, "search_ads", "first")]["revenue"] == pytest.approx(5_000.0)
    assert rows[(w1, "display", "first")]["conversions"] == pytest.approx(0.2)
    assert rows[(w2, "search_ads", "repeat")]["revenue"] == pytest.approx(18_000.0)
    assert rows[(w2, "display", "all")]["conversions"] == pytest.approx(0.1)
    # the non-converting journey c credits nothing; scope all = first + repeat
    all_scope = out.filter(pl.col("scope") == "all")
    assert all_scope["conversions"].sum() == pytest.approx(0.5 + 0.2 + 0.6 + 0.1)
    assert all_scope["revenue"].sum() == pytest.approx(
        out.filter(pl.col("scope") != "all")["revenue"].sum()
    )
