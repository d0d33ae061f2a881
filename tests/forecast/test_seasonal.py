"""The seed's seasonal-variation method against the simulator's planted weekday index and
holiday multipliers, next to the shortcut it replaces (raw means, no de-trending)."""

from __future__ import annotations

import polars as pl

from dagster_project.lib.forecast import seasonal
from dagster_project.lib.forecast.calendar import DAY_OFF, FAMILY, FAMILY_HOLIDAY_WORDS
from dagster_project.lib.forecast.daily import daily_from_orders
from dagster_project.lib.simulate import World

from .conftest import TIME_ZONE

TOLERANCE = 0.10


def _total_orders(world: World) -> pl.DataFrame:
    orders = world.tables["orders"].select(
        pl.col("ordered_at").dt.replace_time_zone(None),
        pl.col("order_amount").alias("order_amount_krw"),
    )
    return daily_from_orders(orders, TIME_ZONE)


def _relative_errors(estimated: pl.DataFrame, truth: pl.DataFrame, on: str) -> dict:
    joined = estimated.join(truth, on=on)
    return dict(zip(joined[on], (joined["estimate"] / joined["truth"] - 1).abs(), strict=True))


def test_weekday_index_recovered_per_category_and_in_total(
    world: World, category_sales: pl.DataFrame, world_calendar: pl.DataFrame
) -> None:
    holiday_dates = world_calendar.filter("is_holiday")["date"]
    truth = world.truth["seasonality"].select("day_of_week", truth="index")
    sales = pl.concat([category_sales, _total_orders(world)])
    index = seasonal.weekday_index(sales, "orders", holiday_dates)
    assert index.group_by("series").agg(pl.col("seasonal_index").sum())["seasonal_index"].round(
        9
    ).unique().to_list() == [7.0]
    for (series,), frame in index.group_by("series"):
        errors = _relative_errors(
            frame.select("day_of_week", estimate="seasonal_index"), truth, "day_of_week"
        )
        assert max(errors.values()) < TOLERANCE, (series, errors)
    # Sunday (1.16) stands out of Tuesday (0.92) in every category, as planted.
    pivot = index.pivot("day_of_week", index="series", values="seasonal_index")
    assert (pivot["6"] > pivot["1"] + 0.1).all()


def test_holiday_multipliers_recovered_where_raw_ratios_fail(
    world: World, world_calendar: pl.DataFrame
) -> None:
    total = _total_orders(world)
    holidays = world_calendar.filter(pl.col("date") <= total["date"].max())
    index = seasonal.weekday_index(total, "orders", holidays.filter("is_holiday")["date"])
    planted = (
        world.truth["holidays"]
        .join(holidays.select("date", "holiday_kind"), on="date")
        .group_by("holiday_kind")
        .agg(truth=pl.col("multiplier").unique())
    )
    # The holidays package's kinds match the simulator's two planted multipliers one to one.
    assert planted["truth"].list.len().to_list() == [1, 1]
    truth = planted.with_columns(pl.col("truth").list.first())
    estimated = seasonal.multiplier_by_kind(
        seasonal.holiday_multipliers(total, "orders", holidays, index)
    ).select("holiday_kind", estimate="multiplier")
    naive = seasonal.multiplier_by_kind(
        seasonal.naive_holiday_multipliers(total, "orders", holidays)
    ).select("holiday_kind", estimate="multiplier")

    errors = _relative_errors(estimated, truth, "holiday_kind")
    assert set(errors) == {FAMILY, DAY_OFF}
    assert max(errors.values()) < TOLERANCE, errors
    # Raw holiday / mean-day ratios mix in the customer base's growth and the weekday.
    naive_errors = _relative_errors(naive, truth, "holiday_kind")
    assert max(naive_errors.values()) > TOLERANCE, naive_errors


def _by_family_holiday(multipliers: pl.DataFrame) -> pl.DataFrame:
    """Median multiplier per family holiday (Chuseok, Korean New Year = Seollal) over its days
    in every year of the data."""
    name = pl.coalesce(
        pl.when(pl.col("holiday_name").str.contains(w)).then(pl.lit(w))
        for w in FAMILY_HOLIDAY_WORDS
    )
    return (
        multipliers.filter(pl.col("holiday_kind") == FAMILY)
        .group_by(holiday=name)
        .agg(estimate=pl.col("multiplier").median(), days=pl.len())
    )


def test_chuseok_and_seollal_dips_recovered_each_where_raw_ratios_fail(
    world: World, world_calendar: pl.DataFrame
) -> None:
    """Each family holiday on its own (Chuseok: 2024 and 2025, Seollal: 2025), from the orders
    the platform reads; the planted multiplier is the same 0.8 for both."""
    total = _total_orders(world)
    holidays = world_calendar.filter(pl.col("date") <= total["date"].max())
    index = seasonal.weekday_index(total, "orders", holidays.filter("is_holiday")["date"])
    planted = (
        world.truth["holidays"]
        .filter(pl.col("name").str.contains("|".join(FAMILY_HOLIDAY_WORDS)))["multiplier"]
        .unique()
    )
    assert planted.len() == 1
    truth = pl.DataFrame({"holiday": list(FAMILY_HOLIDAY_WORDS), "truth": planted[0]})
    estimated = _by_family_holiday(seasonal.holiday_multipliers(total, "orders", holidays, index))
    naive = _by_family_holiday(
        seasonal.naive_holiday_multipliers(total, "orders", holidays).join(
            holidays.select("date", "holiday_name"), on="date"
        )
    )
    assert estimated["days"].min() >= 3, estimated
    errors = _relative_errors(estimated.select("holiday", "estimate"), truth, "holiday")
    assert set(errors) == set(FAMILY_HOLIDAY_WORDS)
    assert max(errors.values()) < TOLERANCE, errors
    naive_errors = _relative_errors(naive.select("holiday", "estimate"), truth, "holiday")
    assert min(naive_errors.values()) > TOLERANCE, naive_errors
