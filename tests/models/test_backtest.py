"""`mopt backtest` on an orders-only CSV: it runs, writes predictions and metrics, and the
metrics equal a direct computation from its predictions and the orders after the cutoff."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sklearn import metrics as skm
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.lib.models.orders import OrdersFileError, read_orders


@pytest.fixture(scope="module")
def orders_csv(model_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The world's orders reduced to the minimal contract, as CSV with ISO UTC timestamps."""
    path = tmp_path_factory.mktemp("orders_only") / "orders.csv"
    pl.read_parquet(model_world / "raw" / "orders.parquet").select(
        "customer_id", "ordered_at", "order_amount"
    ).write_csv(path)
    return path


def test_backtest_cli_metrics_match_a_direct_computation(orders_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "backtest"
    cutoff = "2025-11-20"
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            "--orders",
            str(orders_csv),
            "--cutoff",
            cutoff,
            "--horizon-days",
            "30",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "normalized_gini" in result.output and "bgnbd" in result.output
    predictions = pl.read_parquet(out / "predictions.parquet")
    reported = json.loads((out / "metrics.json").read_text())

    # Actuals straight from the CSV: orders in [cutoff, cutoff + 30 days) per scored customer.
    start = datetime.fromisoformat(cutoff)
    raw = pl.read_csv(orders_csv, try_parse_dates=True).with_columns(
        pl.col("ordered_at").dt.replace_time_zone(None)
    )
    scored = raw.filter(pl.col("ordered_at") < start).select("customer_id").unique()
    assert set(predictions["customer_id"]) == set(scored["customer_id"])
    window = (
        raw.filter(
            (pl.col("ordered_at") >= start) & (pl.col("ordered_at") < start + timedelta(days=30))
        )
        .group_by("customer_id")
        .agg(pl.col("order_amount").sum().alias("spend"))
    )
    frame = predictions.join(window, on="customer_id", how="left").with_columns(
        pl.col("spend").fill_null(0.0)
    )
    y = (frame["spend"] > 0).to_numpy().astype(int)
    spend = frame["spend"].to_numpy()
    assert np.array_equal(frame["actual_bought"].to_numpy(), y)

    model_purchase = next(r for r in reported["purchase"] if r["scorer"] == "model")
    assert model_purchase["roc_auc"] == pytest.approx(skm.roc_auc_score(y, frame["p_buy"]))
    assert model_purchase["pr_auc"] == pytest.approx(skm.average_precision_score(y, frame["p_buy"]))
    assert model_purchase["brier"] == pytest.approx(skm.brier_score_loss(y, frame["p_buy"]))
    bg = next(r for r in reported["purchase"] if r["scorer"] == "bgnbd")
    assert bg["roc_auc"] == pytest.approx(skm.roc_auc_score(y, frame["bgnbd_p_buy"]))
    model_value = next(r for r in reported["value"] if r["scorer"] == "model")
    ev = frame["expected_value_krw"].to_numpy()
    assert model_value["spearman"] == pytest.approx(stats.spearmanr(spend, ev).statistic)
    assert model_value["total_spend_relative_error"] == pytest.approx(ev.sum() / spend.sum() - 1)

    # Normalized Gini from its definition: Lorenz curves of actual spend, sorted by prediction.
    def lorenz_area(order: np.ndarray) -> float:
        cum = np.cumsum(spend[order]) / spend.sum()
        return cum.mean() - 0.5

    gini = lorenz_area(np.argsort(-ev, kind="stable")) / lorenz_area(np.argsort(-spend))
    assert model_value["normalized_gini"] == pytest.approx(gini, abs=2e-3)
    # The model is worth trusting on this world: better than the recency and RFM baselines.
    aucs = {r["scorer"]: r["roc_auc"] for r in reported["purchase"]}
    assert aucs["model"] > max(aucs["recency"], aucs["rfm"])


def test_backtest_without_actuals_writes_predictions_only(orders_csv: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            "--orders",
            str(orders_csv),
            "--cutoff",
            "2025-12-20",
            "--horizon-days",
            "30",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "predictions only" in result.output
    predictions = pl.read_parquet(tmp_path / "predictions.parquet")
    assert "actual_spend_krw" not in predictions.columns
    assert predictions["p_buy"].is_between(0, 1).all()


def test_bad_orders_file_names_file_row_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "customer_id,ordered_at,order_amount\nC1,2025-01-01T10:00:00Z,100\nC2,yesterday,50\n"
    )
    with pytest.raises(OrdersFileError, match=r"orders.csv: row 2: ordered_at must be"):
        read_orders(path)
    path.write_text("customer_id,ordered_at\nC1,2025-01-01\n")
    with pytest.raises(OrdersFileError, match="missing required column"):
        read_orders(path)
    path.write_text("customer_id,ordered_at,order_amount\nC1,2025-01-01,-5\n")
    result = CliRunner().invoke(
        app, ["backtest", "--orders", str(path), "--cutoff", "2025-02-01", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "row 1: order_amount must be >= 0" in result.output
