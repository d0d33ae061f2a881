"""`mopt forecast` on files: an orders-only export (the total series; order-level revenue per
day) and an optional weather file, backtested and forecast forward, written to a folder."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl

from dagster_project.lib.forecast.backtest import (
    BacktestResult,
    forecast_ahead,
    model_calendar,
    run_backtest,
)
from dagster_project.lib.forecast.calendar import (
    WEATHER_COLUMNS,
    holiday_calendar,
    national_weather,
)
from dagster_project.lib.forecast.daily import daily_from_orders
from dagster_project.lib.forecast.report import backtest_markdown
from dagster_project.lib.models.orders import read_orders


class WeatherFileError(ValueError):
    """A weather file that breaks the contract: names the file, the row and the rule."""


def read_weather(path: Path) -> pl.DataFrame:
    """date, region, precipitation_mm, mean_temp_c from a CSV or Parquet file; a row with an
    unreadable date or number, a negative precipitation or a duplicate (date, region) stops
    with an error naming the file, the row and the rule."""
    if not path.exists():
        raise WeatherFileError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        raw = pl.read_csv(path, infer_schema=False)
    elif path.suffix.lower() in (".parquet", ".pq"):
        raw = pl.read_parquet(path)
    else:
        raise WeatherFileError(f"{path}: expected a .csv or .parquet file")
    missing = [c for c in WEATHER_COLUMNS if c not in raw.columns]
    if missing:
        raise WeatherFileError(f"{path}: missing required column(s) {', '.join(missing)}")
    frame = (
        raw.select(WEATHER_COLUMNS)
        .with_row_index("row", offset=1)
        .with_columns(
            pl.col("date").cast(pl.String).str.to_date("%Y-%m-%d", strict=False).alias("day"),
            pl.col("region").cast(pl.String).str.strip_chars(),
            *[
                pl.col(c)
                .cast(pl.String)
                .str.strip_chars()
                .cast(pl.Float64, strict=False)
                .alias(f"_{c}")
                for c in ("precipitation_mm", "mean_temp_c")
            ],
        )
    )
    rules = [
        (pl.col("day").is_null(), "date must be a date YYYY-MM-DD"),
        (pl.col("region").is_null() | (pl.col("region") == ""), "region is required"),
        (pl.col("_precipitation_mm").is_null(), "precipitation_mm must be a number"),
        (pl.col("_precipitation_mm") < 0, "precipitation_mm must be >= 0"),
        (pl.col("_mean_temp_c").is_null(), "mean_temp_c must be a number"),
        (~pl.col("_mean_temp_c").is_between(-60, 60), "mean_temp_c must be between -60 and 60"),
        (pl.struct("day", "region").is_duplicated(), "one row per date and region"),
    ]
    for broken, rule in rules:
        bad = frame.filter(broken)
        if bad.height:
            first = bad.row(0, named=True)
            shown = {c: first[c] for c in WEATHER_COLUMNS}
            raise WeatherFileError(
                f"{path}: row {first['row']}: {rule} (got {shown}); "
                f"{bad.height} row(s) break this rule"
            )
    return frame.select(
        pl.col("day").alias("date"),
        "region",
        pl.col("_precipitation_mm").alias("precipitation_mm"),
        pl.col("_mean_temp_c").alias("mean_temp_c"),
    )


def forecast_file(
    orders_path: Path,
    out: Path,
    horizon: int = 28,
    weather_path: Path | None = None,
    time_zone: str = "UTC",
    measure: str = "revenue_krw",
    eval_days: int = 84,
    holiday_country: str = "KR",
) -> tuple[BacktestResult, pl.DataFrame, dict[str, Path]]:
    """Backtest and forecast the daily ``measure`` of an orders file; writes forecast.csv,
    backtest.csv (per horizon and method), metrics.json and report.md to ``out``."""
    daily = daily_from_orders(read_orders(orders_path), time_zone)
    first, last = daily["date"].min(), daily["date"].max()
    weather = national_weather(read_weather(weather_path)) if weather_path else None
    calendar = model_calendar(
        first,
        last + timedelta(days=horizon),
        holiday_calendar(first, last + timedelta(days=horizon), holiday_country),
        weather,
    )
    result = run_backtest(daily, measure, calendar, eval_days=eval_days)
    ahead = forecast_ahead(daily, measure, calendar, horizon)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "forecast": out / "forecast.csv",
        "backtest": out / "backtest.csv",
        "metrics": out / "metrics.json",
        "report": out / "report.md",
    }
    ahead.write_csv(paths["forecast"])
    result.metrics.write_csv(paths["backtest"])
    paths["metrics"].write_text(
        json.dumps(
            {
                "measure": measure,
                "days": daily.height,
                "first_date": first.isoformat(),
                "last_date": last.isoformat(),
                "weather": weather_path is not None,
                "holiday_country": holiday_country,
                "summary": result.summary().to_dicts(),
                "coverage": result.coverage.filter(pl.col("horizon") == 0).to_dicts(),
                "seconds": result.seconds,
            },
            indent=2,
        )
        + "\n"
    )
    paths["report"].write_text(backtest_markdown(result))
    return result, ahead, paths
