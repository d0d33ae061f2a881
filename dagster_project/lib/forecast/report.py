"""Markdown tables of a forecast backtest (CLI output, docs, asset metadata), and the chart of
the forecast after the recent actuals (asset page and the HTML report)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from dagster_project.lib.forecast.backtest import BacktestResult

HISTORY_DAYS = 56  # eight weeks of actuals before the forecast: the weekday pattern shows


def forecast_chart(
    daily: pl.DataFrame, ahead: pl.DataFrame, measure: str, history_days: int = HISTORY_DAYS
) -> bytes:
    """One panel per series: the last `history_days` of actual daily `measure` (dots, from
    gold.daily_category_sales rows) and the forecast with its interval band (forecast_ahead
    rows)."""
    from dagster_project.lib import charts

    start = daily["date"].max() - timedelta(days=history_days - 1)
    history = daily.filter(pl.col("date") >= start).select(
        "series", "date", pl.col(measure).cast(pl.Float64).alias("actual")
    )
    rows = pl.concat(
        [history, ahead.select("series", "date", "forecast", "forecast_low", "forecast_high")],
        how="diagonal_relaxed",
    )
    unit = "KRW" if measure.endswith("_krw") else measure
    return charts.band_grid(
        rows,
        "series",
        "date",
        "forecast",
        "forecast_low",
        "forecast_high",
        "Demand forecast with its 80 % interval, after the last weeks' actual sales",
        f"daily {measure.removesuffix('_krw')} ({unit})",
        actual="actual",
    )


def backtest_markdown(result: BacktestResult) -> str:
    """Per horizon and method: mean MASE and WAPE over series, and how many beat seasonal
    naive; then the interval's coverage."""
    lines = [
        f"Rolling-origin backtest of daily {result.measure}",
        "",
        "| horizon (days) | method | MASE | WAPE | series beating seasonal naive |",
        "|---:|---|---:|---:|---:|",
    ]
    for row in result.summary().iter_rows(named=True):
        beat = (
            "-"
            if row["method"] == "seasonal_naive"
            else f"{row['series_beating_naive']} of {row['series']}"
        )
        mase, wape = f"{row['mase']:.3f}", f"{row['wape']:.1%}"
        lines.append(f"| {row['horizon']} | {row['method']} | {mase} | {wape} | {beat} |")
    nominal = result.coverage["nominal"][0]
    lines += [
        "",
        f"80 % interval (LightGBM quantiles, conformalised): coverage "
        f"{result.overall_coverage:.1%} over {result.coverage['rows'][0]:,} forecasts "
        f"(nominal {nominal:.0%}).",
        "",
    ]
    return "\n".join(lines)
