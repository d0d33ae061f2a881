"""A year-plus world with enough daily orders (~250 a day) for single-day holiday effects to
stand out of the noise: 20,000 customers at four times the usual visit rate, 400 days."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from dagster_project.lib.forecast.backtest import model_calendar
from dagster_project.lib.forecast.calendar import holiday_calendar, national_weather
from dagster_project.lib.forecast.daily import daily_from_frames
from dagster_project.lib.simulate import World, WorldConfig, simulate

WORLD = WorldConfig(
    customers=20_000,
    days=400,
    seed=11,
    visit_rate_scale=4.0,
    start_date=date(2024, 9, 1),
    counterfactuals=False,
)
TIME_ZONE = "Asia/Seoul"


@pytest.fixture(scope="session")
def world() -> World:
    return simulate(WORLD)


@pytest.fixture(scope="session")
def category_sales(world: World) -> pl.DataFrame:
    t = world.tables
    return daily_from_frames(t["orders"], t["order_items"], t["products"], TIME_ZONE)


@pytest.fixture(scope="session")
def world_calendar(world: World, category_sales: pl.DataFrame) -> pl.DataFrame:
    first, last = category_sales["date"].min(), category_sales["date"].max()
    weather = world.tables["weather"]  # the raw weather file the platform reads, not the truth
    ahead = last + timedelta(days=28)
    return model_calendar(first, ahead, holiday_calendar(first, ahead), national_weather(weather))
