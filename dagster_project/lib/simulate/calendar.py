"""Business calendar of the world: day of week, Korean holidays and daily weather per region, and
the UTC instant each business day starts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import polars as pl

from .params import (
    DOW_INDEX,
    FAMILY_HOLIDAY_MULT,
    FAMILY_HOLIDAY_WORDS,
    HOLIDAY_MULT,
    RAIN_MM,
    RAIN_MULT,
    REGION_NAMES,
    REGIONS,
    WorldConfig,
)

US = 1_000_000


@dataclass
class Calendar:
    dates: list[date]
    dow: np.ndarray  # (D,) 0 = Monday, in the business time zone
    dow_mult: np.ndarray  # (D,)
    holiday_mult: np.ndarray  # (D,)
    holiday_names: list[str | None]
    temperature: np.ndarray  # (R, D) degrees C
    precipitation: np.ndarray  # (R, D) mm
    weather_mult: np.ndarray  # (R, D)
    day0: int  # first day index covered by day_start_us (may be negative)
    _day_start_us: np.ndarray

    def day_start_us(self, day: np.ndarray | int) -> np.ndarray:
        """UTC epoch microseconds of local midnight starting business day ``day``."""
        return self._day_start_us[np.asarray(day) - self.day0]

    @property
    def season(self) -> np.ndarray:
        """Demand multiplier common to all customers per day (day of week x holiday)."""
        return (self.dow_mult * self.holiday_mult).astype(np.float32)


def build_calendar(
    cfg: WorldConfig, rng: np.random.Generator, first_day: int, last_day: int
) -> Calendar:
    d_count = cfg.days
    dates = [cfg.start_date + timedelta(days=d) for d in range(d_count)]
    dow = np.array([d.weekday() for d in dates])
    dow_index = np.asarray(DOW_INDEX) / np.mean(DOW_INDEX)

    years = range(cfg.start_date.year, cfg.end_date.year + 1)
    kr = holidays.country_holidays("KR", years=list(years))
    names = [kr.get(d) for d in dates]
    hol = np.array(
        [
            1.0
            if n is None
            else FAMILY_HOLIDAY_MULT
            if any(w in n for w in FAMILY_HOLIDAY_WORDS)
            else HOLIDAY_MULT
            for n in names
        ]
    )

    # Weather: a seasonal temperature curve (coldest mid-January, hottest early August) plus a
    # regional offset and persistent noise; rain more likely in the July monsoon, regions sharing
    # the national weather system most days.
    doy = np.array([d.timetuple().tm_yday for d in dates], dtype=float)
    n_reg = len(REGION_NAMES)
    offset = np.array([REGIONS[r][1] for r in REGION_NAMES])[:, None]
    seasonal = 12.5 + 14.0 * np.sin(2 * np.pi * (doy - 110.0) / 365.25)
    shock = rng.normal(0, 1.2, size=(n_reg + 1, d_count))
    noise = np.zeros_like(shock)
    for d in range(d_count):
        noise[:, d] = shock[:, d] + (0.7 * noise[:, d - 1] if d else 0.0)
    temperature = seasonal[None, :] + offset + noise[:1] + 0.5 * noise[1:]
    p_rain = 0.18 + 0.30 * np.exp(-(((doy - 195.0) / 28.0) ** 2))
    national = rng.random(d_count) < p_rain
    local = rng.random((n_reg, d_count))
    rainy = np.where(national[None, :], local < 0.8, local < 0.08)
    amount = rng.gamma(0.9, 11.0, size=(n_reg, d_count)) + 0.5
    precipitation = np.round(np.where(rainy, amount, 0.0), 1)
    weather_mult = np.where(precipitation >= RAIN_MM, RAIN_MULT, 1.0)

    tz = ZoneInfo(cfg.timezone)
    starts = []
    for d in range(first_day, last_day + 1):
        local_midnight = datetime.combine(
            cfg.start_date + timedelta(days=d), datetime.min.time(), tzinfo=tz
        )
        starts.append(int(local_midnight.timestamp()) * US)
    return Calendar(
        dates=dates,
        dow=dow,
        dow_mult=dow_index[dow],
        holiday_mult=hol,
        holiday_names=names,
        temperature=np.round(temperature, 1),
        precipitation=precipitation,
        weather_mult=weather_mult,
        day0=first_day,
        _day_start_us=np.array(starts, dtype=np.int64),
    )


def calendar_truth(cal: Calendar) -> dict[str, pl.DataFrame]:
    names = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    dow_index = np.asarray(DOW_INDEX) / np.mean(DOW_INDEX)
    seasonality = pl.DataFrame(
        {
            "day_of_week": pl.Series(range(7), dtype=pl.Int64),
            "day_name": names,
            "index": dow_index.astype(np.float64),
        }
    )
    hol_rows = [
        (d, n, m)
        for d, n, m in zip(cal.dates, cal.holiday_names, cal.holiday_mult, strict=True)
        if n is not None
    ]
    hol = pl.DataFrame(
        {
            "date": [r[0] for r in hol_rows],
            "name": [r[1] for r in hol_rows],
            "multiplier": [float(r[2]) for r in hol_rows],
        },
        schema={"date": pl.Date, "name": pl.Utf8, "multiplier": pl.Float64},
    )
    weather = _weather_frame(cal, multiplier=cal.weather_mult.ravel().astype(np.float64))
    return {"seasonality": seasonality, "holidays": hol, "weather": weather}


def weather_table(cal: Calendar) -> pl.DataFrame:
    """The raw contract's weather table: the weather the world planted, as a weather service
    would export it (date, region, precipitation_mm, mean_temp_c)."""
    return _weather_frame(cal).select(
        "date", "region", "precipitation_mm", mean_temp_c="temperature_c"
    )


def _weather_frame(cal: Calendar, **extra: np.ndarray) -> pl.DataFrame:
    n_reg, n_days = cal.temperature.shape
    return (
        pl.DataFrame(
            {
                "date": np.tile(np.array(cal.dates, dtype="datetime64[D]"), n_reg),
                "region": np.repeat(np.array(REGION_NAMES), n_days),
                "temperature_c": cal.temperature.ravel().astype(np.float64),
                "precipitation_mm": cal.precipitation.ravel().astype(np.float64),
                **extra,
            }
        )
        .with_columns(pl.col("date").cast(pl.Date))
        .sort("date", "region")
    )
