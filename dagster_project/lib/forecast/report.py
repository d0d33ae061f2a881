"""Markdown tables of a forecast backtest (CLI output, docs, asset metadata)."""

from __future__ import annotations

from dagster_project.lib.forecast.backtest import BacktestResult


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
