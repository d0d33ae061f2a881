"""The rolling-origin backtest on the simulator's category sales: LightGBM against seasonal
naive at 7 and 28 days, and the 80 % interval's measured coverage."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from dagster_project.lib.forecast.backtest import BacktestResult, forecast_ahead, run_backtest
from dagster_project.lib.forecast.models import NOMINAL_COVERAGE

COVERAGE_POINTS = 0.05


@pytest.fixture(scope="module")
def result(category_sales: pl.DataFrame, world_calendar: pl.DataFrame) -> BacktestResult:
    return run_backtest(category_sales, "revenue_krw", world_calendar)


@pytest.mark.parametrize("horizon", [7, 28])
def test_lightgbm_beats_seasonal_naive_on_mase_in_most_categories(
    result: BacktestResult, horizon: int
) -> None:
    wide = result.metrics.filter(pl.col("horizon") == horizon).pivot(
        "method", index="series", values="mase"
    )
    beating = (wide["lightgbm"] < wide["seasonal_naive"]).sum()
    assert wide.height == 8
    assert beating > wide.height / 2, wide


def test_interval_coverage_within_five_points_of_nominal(result: BacktestResult) -> None:
    assert abs(result.overall_coverage - NOMINAL_COVERAGE) <= COVERAGE_POINTS, result.coverage
    # Every origin and horizon 1-28 of the 84 evaluated days counts, for every category.
    assert result.coverage["rows"][0] == result.predictions.height


def test_forecast_ahead_covers_each_category_and_day(
    category_sales: pl.DataFrame, world_calendar: pl.DataFrame
) -> None:
    ahead = forecast_ahead(category_sales, "revenue_krw", world_calendar, 28)
    assert ahead.height == 8 * 28
    assert ahead["date"].min() == category_sales["date"].max() + timedelta(days=1)
    assert (ahead["forecast_low"] <= ahead["forecast"]).all()
    assert (ahead["forecast"] <= ahead["forecast_high"]).all()
