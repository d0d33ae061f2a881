"""The seed's seasonal-variation method. The day of week is the season: a centred 7-day moving
average (CMA) gives the level, Y / CMA per day is the specific seasonal index, and the mean of
those per weekday, normalised to sum to 7, is the weekday seasonal index. Holidays are kept out
of the CMA (a windows touching one is skipped) so a 1.3x holiday does not lift its week's level,
and each holiday's multiplier is then its sales over the seasonal expectation around it."""

from __future__ import annotations

import polars as pl

WINDOW = 7
# Level around a holiday: deseasonalised sales on the ordinary days within this many days.
HOLIDAY_LEVEL_DAYS = 14


def specific_indices(daily: pl.DataFrame, measure: str, holiday_dates: pl.Series) -> pl.DataFrame:
    """Per series and day: cma (null where the centred window is incomplete or holds a holiday)
    and specific_index = Y / CMA."""
    ordinary = pl.when(~pl.col("date").is_in(holiday_dates.implode())).then(pl.col(measure))
    return (
        daily.sort("series", "date")
        .with_columns(
            cma=ordinary.cast(pl.Float64).rolling_mean(WINDOW, center=True).over("series")
        )
        .with_columns(
            specific_index=pl.when(pl.col("cma") > 0).then(pl.col(measure) / pl.col("cma")),
            day_of_week=pl.col("date").dt.weekday() - 1,  # 0 = Monday
        )
    )


def weekday_index(daily: pl.DataFrame, measure: str, holiday_dates: pl.Series) -> pl.DataFrame:
    """One row per series and weekday (0 = Monday): seasonal_index, summing to 7 per series."""
    return (
        specific_indices(daily, measure, holiday_dates)
        .group_by("series", "day_of_week")
        .agg(raw=pl.col("specific_index").mean())
        .with_columns(seasonal_index=pl.col("raw") * WINDOW / pl.col("raw").sum().over("series"))
        .select("series", "day_of_week", "seasonal_index")
        .sort("series", "day_of_week")
    )


def holiday_multipliers(
    daily: pl.DataFrame, measure: str, holidays: pl.DataFrame, index: pl.DataFrame
) -> pl.DataFrame:
    """Per series and holiday date: multiplier = (Y / weekday index) on the day over the median
    of Y / weekday index on the ordinary days within HOLIDAY_LEVEL_DAYS either side (symmetric,
    so a linear trend cancels; a median, so a campaign burst in the window does not lift it)."""
    holiday_dates = holidays.filter("is_holiday")["date"]
    frame = (
        daily.with_columns(day_of_week=pl.col("date").dt.weekday() - 1)
        .join(index, on=["series", "day_of_week"])
        .with_columns(deseasonalised=pl.col(measure) / pl.col("seasonal_index"))
        .sort("series", "date")
    )
    ordinary = frame.filter(~pl.col("date").is_in(holiday_dates.implode()))
    on_holidays = frame.filter(pl.col("date").is_in(holiday_dates.implode()))
    spans = on_holidays.select(
        "series",
        "date",
        "deseasonalised",
        start=pl.col("date") - pl.duration(days=HOLIDAY_LEVEL_DAYS),
        end=pl.col("date") + pl.duration(days=HOLIDAY_LEVEL_DAYS),
    )
    levels = (
        spans.join(
            ordinary.select(
                "series", pl.col("date").alias("other"), pl.col("deseasonalised").alias("y")
            ),
            on="series",
        )
        .filter(pl.col("other").is_between(pl.col("start"), pl.col("end")))
        .group_by("series", "date")
        .agg(level=pl.col("y").median(), level_days=pl.len())
    )
    return (
        spans.join(levels, on=["series", "date"])
        .join(holidays.select("date", "holiday_name", "holiday_kind"), on="date")
        .with_columns(
            multiplier=pl.when(pl.col("level") > 0).then(pl.col("deseasonalised") / pl.col("level"))
        )
        .select("series", "date", "holiday_name", "holiday_kind", "multiplier", "level_days")
        .sort("series", "date")
    )


def naive_weekday_index(daily: pl.DataFrame, measure: str) -> pl.DataFrame:
    """The shortcut the seed method replaces: mean sales per weekday over the mean day, with
    no de-trending and holidays left in."""
    return (
        daily.with_columns(day_of_week=pl.col("date").dt.weekday() - 1)
        .group_by("series", "day_of_week")
        .agg(raw=pl.col(measure).mean())
        .with_columns(seasonal_index=pl.col("raw") * WINDOW / pl.col("raw").sum().over("series"))
        .select("series", "day_of_week", "seasonal_index")
        .sort("series", "day_of_week")
    )


def naive_holiday_multipliers(
    daily: pl.DataFrame, measure: str, holidays: pl.DataFrame
) -> pl.DataFrame:
    """The shortcut: sales on the holiday over the series' mean day."""
    return (
        daily.with_columns(mean=pl.col(measure).mean().over("series"))
        .join(holidays.filter("is_holiday").select("date", "holiday_kind"), on="date")
        .select("series", "date", "holiday_kind", multiplier=pl.col(measure) / pl.col("mean"))
        .sort("series", "date")
    )


def multiplier_by_kind(multipliers: pl.DataFrame) -> pl.DataFrame:
    """Per series and holiday kind: the median of its days' multipliers (one holiday day is a
    single noisy observation; a kind pools a year's worth of them)."""
    return (
        multipliers.group_by("series", "holiday_kind")
        .agg(multiplier=pl.col("multiplier").median(), days=pl.len())
        .sort("series", "holiday_kind")
    )
