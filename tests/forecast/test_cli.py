"""`mopt forecast` on an orders-only export: real orders (CDNOW), and bad input reported with
the file, the row and the rule."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.lib.models.datasets import cdnow_orders


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cdnow") / "orders.csv"
    cdnow_orders().write_csv(path)
    return path


@pytest.mark.slow  # CDNOW backtest end to end, ~20 s on the shared machine
def test_cdnow_daily_revenue_backtest_and_forecast(cdnow_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "forecast",
            "--orders",
            str(cdnow_csv),
            "--out",
            str(out),
            "--horizon",
            "28",
            "--holiday-country",
            "US",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    summary = {(r["method"], r["horizon"]): r for r in metrics["summary"]}
    assert set(summary) == {
        (m, h) for m in ("lightgbm", "ets", "seasonal_naive") for h in (1, 7, 28)
    }
    for horizon in (7, 28):
        assert summary[("lightgbm", horizon)]["mase"] < summary[("seasonal_naive", horizon)]["mase"]
    assert abs(metrics["coverage"][0]["coverage"] - 0.8) <= 0.05
    ahead = pl.read_csv(out / "forecast.csv")
    assert ahead.height == 28 and ahead["series"].unique().to_list() == ["total"]
    assert ahead["date"].min() == "1998-07-01"  # CDNOW ends 1998-06-30


def test_bad_orders_row_names_file_row_and_rule(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,ordered_at,order_amount\nA,2025-01-01,100\nB,2025-01-02,-5\n")
    result = CliRunner().invoke(app, ["forecast", "--orders", str(orders), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{orders}: row 2: order_amount must be >= 0" in result.output


def test_bad_weather_row_names_file_row_and_rule(cdnow_csv: Path, tmp_path: Path) -> None:
    weather = tmp_path / "weather.csv"
    weather.write_text(
        "date,region,precipitation_mm,mean_temp_c\n1997-01-01,ny,0.0,2.5\n1997-01-02,ny,wet,1.0\n"
    )
    result = CliRunner().invoke(
        app,
        ["forecast", "--orders", str(cdnow_csv), "--weather", str(weather), "--out", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert f"{weather}: row 2: precipitation_mm must be a number" in result.output
