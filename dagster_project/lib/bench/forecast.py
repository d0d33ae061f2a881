"""Forecast benchmark (`mopt bench forecast`): the rolling-origin backtest (three LightGBM fits
of three boosters each, ETS per series) and one forward fit, on a simulated world's category
sales and on CDNOW's daily revenue; median wall time over repeats."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from dagster_project.lib.bench.common import median_seconds, publish
from dagster_project.lib.warehouse import markdown_table


def _datasets(customers: int, days: int) -> dict[str, tuple[pl.DataFrame, pl.DataFrame, str]]:
    from dagster_project.lib.forecast.backtest import model_calendar
    from dagster_project.lib.forecast.calendar import holiday_calendar, national_weather
    from dagster_project.lib.forecast.daily import daily_from_frames, daily_from_orders
    from dagster_project.lib.models.datasets import cdnow_orders
    from dagster_project.lib.simulate import WorldConfig, simulate

    cfg = WorldConfig(
        customers=customers,
        days=days,
        seed=11,
        visit_rate_scale=4.0,
        start_date=date(2024, 9, 1),
        counterfactuals=False,
    )
    world = simulate(cfg)
    t = world.tables
    sim = daily_from_frames(t["orders"], t["order_items"], t["products"], cfg.timezone)
    weather = national_weather(world.tables["weather"])
    cdnow = daily_from_orders(
        cdnow_orders().select("ordered_at", order_amount_krw="order_amount"), "UTC"
    )
    out = {}
    for name, daily, country, wx in (
        (f"simulated {customers:,} x {days}", sim, "KR", weather),
        ("CDNOW", cdnow, "US", None),
    ):
        first, last = daily["date"].min(), daily["date"].max() + timedelta(days=28)
        out[name] = (daily, model_calendar(first, last, holiday_calendar(first, last, country), wx))
    return out


def run(customers: int, days: int, repeats: int) -> None:
    from dagster_project.lib.forecast.backtest import forecast_ahead, run_backtest

    rows = []
    for name, (daily, calendar) in _datasets(customers, days).items():
        backtest_s, result = median_seconds(
            lambda d=daily, c=calendar: run_backtest(d, "revenue_krw", c), repeats
        )
        ahead_s, _ = median_seconds(
            lambda d=daily, c=calendar: forecast_ahead(d, "revenue_krw", c, 28), repeats
        )
        summary = {
            (r["method"], r["horizon"]): r["mase"] for r in result.summary().iter_rows(named=True)
        }
        rows.append(
            {
                "data": name,
                "series": daily["series"].n_unique(),
                "days": daily["date"].n_unique(),
                "backtest_s": round(backtest_s, 2),
                "lightgbm_s": round(result.seconds["lightgbm"], 2),
                "ets_s": round(result.seconds["ets"], 2),
                "forecast_28d_s": round(ahead_s, 2),
                "mase_lgbm_h7": round(summary[("lightgbm", 7)], 3),
                "mase_naive_h7": round(summary[("seasonal_naive", 7)], 3),
                "coverage_80": round(result.overall_coverage, 3),
            }
        )
        print(rows[-1], flush=True)
    publish("forecast", {"repeats": repeats, "results": rows}, markdown_table(pl.DataFrame(rows)))
