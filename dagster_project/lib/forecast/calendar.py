"""The forecast's calendar: public holidays from the `holidays` package (the seed's calendar)
and the optional weather table reduced to one national figure per day."""

from __future__ import annotations

from datetime import date

import duckdb
import holidays
import polars as pl

from dagster_project.lib.warehouse import has_table

HOLIDAY_COUNTRY = "KR"
WEATHER_COLUMNS = ("date", "region", "precipitation_mm", "mean_temp_c")
# Seollal and Chuseok are the multi-day family holidays (people travel; shops close); every
# other public holiday is a day off at home. The holidays package names them in English.
FAMILY_HOLIDAY_WORDS = ("Chuseok", "Korean New Year")
FAMILY, DAY_OFF = "family", "day_off"


def holiday_calendar(first: date, last: date, country: str = HOLIDAY_COUNTRY) -> pl.DataFrame:
    """One row per day in [first, last]: is_holiday, holiday_name and holiday_kind (family or
    day_off; null on ordinary days)."""
    days = pl.date_range(first, last, eager=True)
    named = holidays.country_holidays(country, years=range(first.year, last.year + 1))
    return (
        pl.DataFrame({"date": days})
        .join(
            pl.DataFrame(
                {"date": list(named.keys()), "holiday_name": list(named.values())},
                schema={"date": pl.Date, "holiday_name": pl.String},
            ),
            on="date",
            how="left",
        )
        .with_columns(
            is_holiday=pl.col("holiday_name").is_not_null(),
            holiday_kind=pl.when(
                pl.col("holiday_name").str.contains("|".join(FAMILY_HOLIDAY_WORDS))
            )
            .then(pl.lit(FAMILY))
            .when(pl.col("holiday_name").is_not_null())
            .then(pl.lit(DAY_OFF)),
        )
    )


def national_weather(weather: pl.DataFrame) -> pl.DataFrame:
    """Mean precipitation and temperature over regions per day (sales are national)."""
    return (
        weather.group_by("date")
        .agg(
            pl.col("precipitation_mm").mean(),
            pl.col("mean_temp_c").mean(),
        )
        .sort("date")
    )


def warehouse_weather(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """National daily weather from silver.int_weather__daily; None when the warehouse has no
    weather (the table is optional in the raw contract)."""
    if not has_table(con, "silver.int_weather__daily"):
        return None
    weather = con.sql(
        "select date, region, precipitation_mm, mean_temp_c from silver.int_weather__daily"
    ).pl()
    return None if weather.is_empty() else national_weather(weather)
