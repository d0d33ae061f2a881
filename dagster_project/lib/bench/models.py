"""Models benchmark (`mopt bench models`): test-window metrics of the model and the baselines,
and training times, on

- the feature-store path at the demo size (simulate, ingest, dbt build, Feast point-in-time
  training set, both models, scoring every customer);
- the orders-only backtest at each simulated size (100k customers included) and on CDNOW, the
  real retail orders shipped with `lifetimes`, where BG/NBD + Gamma-Gamma is the baseline.

Writes bench/out/models.json and the ``bench:models`` block of docs/benchmarks.md."""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from dagster_project.lib.bench.common import publish


def _rows(table: pl.DataFrame, kind: str, base: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**base, "kind": kind, **row} for row in table.to_dicts()]


def feature_store_path(customers: int, days: int, workdir: Path) -> dict[str, Any]:
    """The Dagster assets' path, in-process: warehouse and feature files from bench_world, Feast
    training set, both models and batch scores; wall times per step."""
    from dagster_project.lib import features
    from dagster_project.lib.bench.foundation import bench_world
    from dagster_project.lib.models import pipeline
    from dagster_project.lib.models.registry import Registry
    from dagster_project.lib.settings import Settings
    from dagster_project.lib.warehouse import connect

    bench_world(customers, days, workdir)
    with connect(workdir / "warehouse.duckdb", read_only=True) as con:
        orders = pipeline.load_orders(con)
    settings = Settings(
        data_dir=workdir,
        raw_dir=workdir / "raw",
        duckdb_path=workdir / "warehouse.duckdb",
        features_dir=workdir / "features",
        business_timezone="Asia/Seoul",
    )
    store = features.feature_store(settings, profile="embedded")
    features.apply_repo(store, settings.features_dir)
    customer_file = settings.features_dir / "customer__daily.parquet"
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    ts = pipeline.build_feature_training_set(
        orders, store, customer_file, pipeline.TrainingSetConfig()
    )
    seconds["training_set"] = time.perf_counter() - started
    registry = Registry(workdir / "models")
    purchase = pipeline.train_purchase(ts, registry)
    ltv = pipeline.train_ltv(ts, registry)
    seconds["train_purchase"] = purchase.seconds
    seconds["train_ltv"] = ltv.seconds
    started = time.perf_counter()
    scores, _ = pipeline.score_customers(registry, store, customer_file)
    seconds["score_all"] = time.perf_counter() - started
    base = {"dataset": f"simulated {customers:,} x {days} days (Feast)", "horizon_days": 30}
    test = ts.frame.filter(pl.col("split") == "test")
    return {
        "rows": _rows(purchase.metrics, "purchase", base) + _rows(ltv.metrics, "value", base),
        "timing": {
            **base,
            "training_rows": ts.frame.height,
            "test_rows": test.height,
            "test_buyers": int(test["label_bought"].sum()),
            "scored_customers": scores.height,
            **seconds,
        },
    }


def backtest_path(
    orders: pl.DataFrame, cutoff: datetime, horizon_days: int, label: str
) -> dict[str, Any]:
    from dagster_project.lib.models.backtest import run_backtest

    started = time.perf_counter()
    result = run_backtest(orders, cutoff, horizon_days, step_days=7, max_train_cutoffs=12)
    total = time.perf_counter() - started
    assert result.evaluation is not None
    base = {"dataset": label, "horizon_days": horizon_days}
    return {
        "rows": _rows(result.evaluation.purchase, "purchase", base)
        + _rows(result.evaluation.value, "value", base),
        "timing": {
            **base,
            "training_rows": result.rows["train"] + result.rows["validation"],
            "test_rows": result.evaluation.rows,
            "test_buyers": result.evaluation.buyers,
            "scored_customers": result.rows["scored"],
            **{f"backtest_{k}": v for k, v in result.seconds.items()},
            "backtest_total": total,
        },
    }


def simulated_orders(customers: int, days: int, seed: int = 42) -> pl.DataFrame:
    from dagster_project.lib.simulate import WorldConfig, simulate

    world = simulate(WorldConfig(customers=customers, days=days, seed=seed, counterfactuals=False))
    return world.tables["orders"]


def _orders_contract(frame: pl.DataFrame) -> pl.DataFrame:
    ts = frame.schema["ordered_at"]
    ordered_at = pl.col("ordered_at")
    if isinstance(ts, pl.Datetime) and ts.time_zone:
        ordered_at = ordered_at.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return frame.select(
        pl.col("customer_id").cast(pl.String),
        ordered_at.cast(pl.Datetime("us")).alias("ordered_at"),
        pl.col("order_amount").cast(pl.Float64).alias("order_amount_krw"),
    ).sort("ordered_at", "customer_id")


def markdown(rows: list[dict[str, Any]], timings: list[dict[str, Any]]) -> str:
    frame = pl.DataFrame(rows)
    lines = [
        "Models (`mopt bench models`): test-window metrics of the model and the baselines, and "
        "times (one thread for LightGBM; shared 2-core machine, so times are indicative).",
        "",
        "| dataset | H | scorer | ROC AUC | PR AUC | Brier | norm. Gini | Spearman | "
        "decile MAPE | total spend err |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (dataset, horizon), group in frame.group_by(
        ["dataset", "horizon_days"], maintain_order=True
    ):
        purchase = {r["scorer"]: r for r in group.filter(pl.col("kind") == "purchase").to_dicts()}
        value = {r["scorer"]: r for r in group.filter(pl.col("kind") == "value").to_dicts()}
        for scorer in dict.fromkeys([*purchase, *value]):
            p, v = purchase.get(scorer, {}), value.get(scorer, {})

            def f(row: dict[str, Any], key: str) -> str:
                x = row.get(key)
                return "" if x is None or x != x else f"{x:.3f}"

            lines.append(
                f"| {dataset} | {horizon} | {scorer} | {f(p, 'roc_auc')} | {f(p, 'pr_auc')} | "
                f"{f(p, 'brier')} | {f(v, 'normalized_gini')} | {f(v, 'spearman')} | "
                f"{f(v, 'decile_mape')} | {f(v, 'total_spend_relative_error')} |"
            )
    lines += [
        "",
        "| dataset | training rows | test rows (buyers) | times (s) |",
        "| --- | ---: | ---: | --- |",
    ]
    for t in timings:
        times = ", ".join(
            f"{k.removeprefix('backtest_')} {v:.1f}"
            for k, v in t.items()
            if isinstance(v, float) and k not in ("horizon_days",)
        )
        lines.append(
            f"| {t['dataset']} | {t['training_rows']:,} | {t['test_rows']:,} "
            f"({t['test_buyers']:,}) | {times} |"
        )
    return "\n".join(lines)


def run(
    sizes: list[tuple[int, int]], feast_size: tuple[int, int] | None, workdir: Path
) -> dict[str, Any]:
    from dagster_project.lib.models.datasets import cdnow_orders

    rows: list[dict[str, Any]] = []
    timings: list[dict[str, Any]] = []

    def add(result: dict[str, Any]) -> None:
        rows.extend(result["rows"])
        timings.append(result["timing"])
        print(json.dumps(result["timing"], default=str))

    if feast_size is not None:
        work = workdir / f"feast_{feast_size[0]}x{feast_size[1]}"
        shutil.rmtree(work, ignore_errors=True)
        add(feature_store_path(*feast_size, work))
    for customers, days in sizes:
        orders = _orders_contract(simulated_orders(customers, days))
        start = orders["ordered_at"].min().date()  # type: ignore[union-attr]
        cutoff = datetime.combine(start + timedelta(days=days - 30), datetime.min.time())
        add(backtest_path(orders, cutoff, 30, f"simulated {customers:,} x {days} days (orders)"))
    cdnow = _orders_contract(cdnow_orders())
    for cutoff in ("1997-10-01", "1998-01-01"):
        add(backtest_path(cdnow, datetime.fromisoformat(cutoff), 90, f"CDNOW, cutoff {cutoff}"))

    payload = {"metrics": rows, "timings": timings}
    publish("models", payload, markdown(rows, timings))
    return payload
