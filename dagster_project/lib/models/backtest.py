"""Backtest on your own orders (``mopt backtest``): from an orders-only file, train the ZILN
two-part model on information before a cutoff only, predict each customer's purchase probability,
expected spend and quantiles for the H days from the cutoff and, when the orders cover that
window, measure the model next to the baselines (recency, RFM, past spend) and BG/NBD with
Gamma-Gamma.

Customers scored: everyone with an order before the cutoff (orders alone know no one else).
Cutoffs are midnight UTC. Training cutoffs: validation at cutoff - H, training at cutoff - 2H,
then every ``step_days`` earlier, so every label used for fitting ends before the cutoff. Early
stopping on the validation cutoff picks the number of boosting rounds; the model is then refitted
on all of them, the validation cutoff and the refit cutoffs (every ``step_days`` between the
last training cutoff and the validation one) included, and its level set on the cutoffs of the
last horizon (see ``training.fit_ziln``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dagster_project.lib.models import training
from dagster_project.lib.models.baselines import RfmBaseline
from dagster_project.lib.models.btyd import (
    BGNBD_FEATURES,
    BgNbdGammaGamma,
    bgnbd_features,
    rfm_summary,
)
from dagster_project.lib.models.orders import (
    CUTOFF,
    ORDER_FEATURES,
    label_orders,
    orders_features,
    read_orders,
)
from dagster_project.lib.models.ziln import BoosterParams


@dataclass
class BacktestResult:
    predictions: pl.DataFrame
    evaluation: training.Evaluation | None
    plan: training.CutoffPlan
    seconds: dict[str, float]
    rows: dict[str, int]
    bgnbd_params: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def metrics_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cutoff": self.plan.test.isoformat(),
            "horizon_days": self.plan.horizon_days,
            "cutoffs": self.plan.as_dict(),
            "rows": self.rows,
            "seconds": self.seconds,
            "bgnbd_params": self.bgnbd_params,
            "note": self.note,
        }
        if self.evaluation is not None:
            out["purchase"] = self.evaluation.purchase.to_dicts()
            out["value"] = self.evaluation.value.to_dicts()
            out["calibration"] = self.evaluation.calibration.to_dicts()
            out["lift"] = self.evaluation.lift.to_dicts()
            out["deciles"] = self.evaluation.deciles.to_dicts()
        return out


def _labelled(
    orders: pl.DataFrame, cutoffs: list[datetime], horizon_days: int, with_bgnbd: bool
) -> pl.DataFrame:
    feats = orders_features(orders, cutoffs)
    entities = feats.select("customer_id", CUTOFF)
    frame = label_orders(entities, orders, horizon_days).join(
        feats, on=["customer_id", CUTOFF], how="left", maintain_order="left"
    )
    if with_bgnbd:
        frame = frame.join(
            bgnbd_features(orders, cutoffs, horizon_days),
            on=["customer_id", CUTOFF],
            how="left",
            maintain_order="left",
        )
    return frame


def run_backtest(
    orders: pl.DataFrame,
    cutoff: date | datetime,
    horizon_days: int = 30,
    step_days: int = 14,
    max_train_cutoffs: int = 8,
    min_history_days: int = 28,
    params: BoosterParams | None = None,
    bgnbd_as_features: bool = True,
) -> BacktestResult:
    """Train on orders before ``cutoff``, predict for [cutoff, cutoff + H) and, if the orders
    reach cutoff + H, evaluate against what happened."""
    if isinstance(cutoff, datetime):
        cutoff_ts = cutoff
    else:
        cutoff_ts = datetime.combine(cutoff, datetime.min.time())
    first, last = orders["ordered_at"].min(), orders["ordered_at"].max()
    if first is None or first >= cutoff_ts:
        raise ValueError(f"no order before the cutoff {cutoff_ts:%Y-%m-%d}")
    plan = training.plan_cutoffs(
        cutoff_ts,
        first + timedelta(days=min_history_days),
        horizon_days,
        step_days,
        max_train_cutoffs,
        refit_cutoffs=True,
    )
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    past = orders.filter(pl.col("ordered_at") < cutoff_ts)  # the model never sees later orders
    fit_frame = _labelled(
        past, [*plan.train, *plan.refit, plan.validation], horizon_days, bgnbd_as_features
    ).join(plan.as_frame(), on=CUTOFF)
    test = _labelled(orders, [cutoff_ts], horizon_days, bgnbd_as_features)
    features = ORDER_FEATURES + (BGNBD_FEATURES if bgnbd_as_features else [])
    seconds["features"] = time.perf_counter() - started

    started = time.perf_counter()
    parts = {s: fit_frame.filter(pl.col("split") == s) for s in training.FIT_SPLITS}
    model = training.fit_ziln(
        fit_frame,
        features,
        horizon_days,
        params,
        ("bgnbd_p_buy", "bgnbd_expected_value_krw") if bgnbd_as_features else None,
    )
    rfm = RfmBaseline.fit(parts["train"])
    seconds["train"] = time.perf_counter() - started

    started = time.perf_counter()
    summary = rfm_summary(past, cutoff_ts)
    bgnbd = BgNbdGammaGamma.fit(summary)
    bg = bgnbd.predict(summary, horizon_days)
    seconds["bgnbd"] = time.perf_counter() - started

    predicted = model.predict(test)
    predictions = test.select("customer_id").with_columns(
        predicted.select(
            "p_buy", "expected_value_krw", "value_p10_krw", "value_p50_krw", "value_p90_krw"
        )
    )
    predictions = predictions.join(
        bg.select(
            "customer_id",
            pl.col("p_buy").alias("bgnbd_p_buy"),
            pl.col("expected_value_krw").alias("bgnbd_expected_value_krw"),
        ),
        on="customer_id",
        how="left",
        maintain_order="left",
    )
    complete = last is not None and last >= cutoff_ts + timedelta(days=horizon_days - 1)
    evaluation, note = None, ""
    if complete:
        predictions = predictions.with_columns(
            test["label_bought"].alias("actual_bought"),
            test["label_spend_krw"].alias("actual_spend_krw"),
        )
        evaluation = training.evaluate(
            test,
            predictions["p_buy"].to_numpy(),
            predictions["expected_value_krw"].to_numpy(),
            rfm,
            horizon_days,
            extra={
                "bgnbd": (
                    predictions["bgnbd_p_buy"].to_numpy(),
                    predictions["bgnbd_expected_value_krw"].to_numpy(),
                )
            },
        )
    else:
        note = (
            f"orders end {last:%Y-%m-%d}, before the window's end "
            f"{cutoff_ts + timedelta(days=horizon_days):%Y-%m-%d}: predictions only, no metrics"
        )
    return BacktestResult(
        predictions,
        evaluation,
        plan,
        seconds,
        {
            "train": parts["train"].height + parts["refit"].height,
            "validation": parts["validation"].height,
            "scored": predictions.height,
        },
        {**bgnbd.params, **{f"gg_{k}": v for k, v in bgnbd.spend_params.items()}},
        note,
    )


def report_markdown(result: BacktestResult) -> str:
    from dagster_project.lib.warehouse import markdown_table

    lines = [
        f"# Backtest: cutoff {result.plan.test:%Y-%m-%d}, horizon {result.plan.horizon_days} days",
        "",
        f"Customers scored: {result.rows['scored']:,}; training rows {result.rows['train']:,}, "
        f"validation rows {result.rows['validation']:,}.",
    ]
    if result.evaluation is None:
        return "\n".join([*lines, "", result.note, ""])
    ev = result.evaluation
    purchase = ev.purchase.with_columns(pl.selectors.float().round(4))
    value = ev.value.drop("actual_total_krw", "predicted_total_krw").with_columns(
        pl.selectors.float().round(4)
    )
    return "\n".join(
        [
            *lines,
            f"Buyers in the window: {ev.buyers:,} of {ev.rows:,}.",
            "",
            "## Purchase (will buy within the horizon)",
            "",
            markdown_table(purchase),
            "",
            "## Spend (ZILN expected value)",
            "",
            markdown_table(value),
            "",
            "## Model deciles (mean spend per customer, KRW)",
            "",
            markdown_table(ev.deciles.with_columns(pl.selectors.float().round(0))),
            "",
        ]
    )


def write_outputs(result: BacktestResult, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "predictions": out / "predictions.parquet",
        "predictions_csv": out / "predictions.csv",
        "metrics": out / "metrics.json",
        "report": out / "report.md",
    }
    result.predictions.write_parquet(paths["predictions"])
    result.predictions.write_csv(paths["predictions_csv"])
    paths["metrics"].write_text(json.dumps(result.metrics_json(), indent=2, default=_json_default))
    paths["report"].write_text(report_markdown(result))
    return paths


def _json_default(value: Any) -> Any:
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def backtest_file(
    orders_path: Path, cutoff: date, horizon_days: int, out: Path, **kwargs: Any
) -> tuple[BacktestResult, dict[str, Path]]:
    orders = read_orders(orders_path)
    result = run_backtest(orders, cutoff, horizon_days, **kwargs)
    return result, write_outputs(result, out)
