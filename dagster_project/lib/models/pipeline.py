"""The models on the warehouse: training sets from the gold feature snapshots through Feast's
point-in-time retrieval with labels from silver orders, training with registry and
champion/challenger, and batch scores of every current customer (gold table + Parquet for Feast).
No Dagster here: ``defs/models`` wires these into assets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from dagster_project.lib.models import training
from dagster_project.lib.models.baselines import BASELINE_COLUMNS, RfmBaseline
from dagster_project.lib.models.orders import CUTOFF
from dagster_project.lib.models.registry import (
    Decision,
    Registry,
    data_fingerprint,
    library_versions,
)
from dagster_project.lib.models.ziln import BoosterParams, PurchaseModel, ZilnModel

PURCHASE_MODEL = "purchase_probability"
LTV_MODEL = "ltv_ziln"
PURCHASE_SERVICE = "purchase_probability_v1"
LTV_SERVICE = "ltv_v1"
SCORES_TABLE = "gold.customer_scores"
SCORES_FILE = "customer_scores.parquet"
# Champion/challenger: a challenger this much worse (AUC / normalized Gini) still replaces the
# champion, so noise of a few thousandths does not freeze the model forever.
PROMOTION_TOLERANCE = 0.005
# The quality check a version must pass to be served: its test metric above every baseline's.
CHECK = "beats_baselines"
CHECKED_METRIC = {
    PURCHASE_MODEL: ("roc_auc", ("recency", "rfm")),
    LTV_MODEL: ("normalized_gini", ("rfm", "past_spend")),
}
BASELINE_VERSION = "baseline:rfm_cell"


@dataclass(frozen=True)
class TrainingSetConfig:
    horizon_days: int = 30
    step_days: int = 14
    max_train_cutoffs: int = 6
    # 6 cutoffs x 8,000 + validation and test (all customers known by then) keeps the demo's
    # training set (20k customers) at ~73k rows: labels and Feast retrieval took 9 s here.
    max_train_customers: int = 8_000
    min_history_days: int = 28
    seed: int = 0


def load_orders(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Silver orders as the labels need them: customer_id, ordered_at (UTC), order_amount_krw."""
    return con.sql(
        "select customer_id, ordered_at::timestamp as ordered_at, "
        "order_amount_krw::double as order_amount_krw from silver.int_orders__enriched"
    ).pl()


def customers_first_seen(customer_file: Path) -> pl.DataFrame:
    """customer_id and the first as-of time with a feature snapshot (first_seen_at)."""
    return (
        pl.scan_parquet(customer_file)
        .group_by("customer_id")
        .agg(pl.col(CUTOFF).min().cast(pl.Datetime("us")).alias("first_seen_at"))
        .sort("customer_id")
        .collect()
    )


def feature_names(store, service: str) -> list[str]:
    from dagster_project.lib.features import service_schema

    return [name for name, _ in service_schema(store, service)]


@dataclass
class TrainingSet:
    frame: pl.DataFrame
    plan: training.CutoffPlan
    purchase_features: list[str]
    ltv_features: list[str]
    fingerprint: str
    seconds_retrieval: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)


def build_feature_training_set(
    orders: pl.DataFrame, store, customer_file: Path, config: TrainingSetConfig
) -> TrainingSet:
    """Entity rows at the plan's cutoffs, labels from ``orders``, features from Feast (one
    retrieval of purchase_probability_v1; ltv_v1's features are a subset of it, checked)."""
    import time

    from dagster_project.lib.features import historical_features

    known = customers_first_seen(customer_file)
    if known.is_empty():
        raise ValueError(f"{customer_file} has no customer snapshots")
    bounds = pl.scan_parquet(customer_file).select(
        pl.col(CUTOFF).min().alias("lo"), pl.col(CUTOFF).max().alias("hi")
    )
    lo, hi = bounds.collect().row(0)
    # The newest snapshot's as-of time closes the data: the test window is the last H days.
    plan = training.fit_plan(
        lo,
        hi,
        config.horizon_days,
        config.step_days,
        config.max_train_cutoffs,
        config.min_history_days,
    )
    entities = training.sample_entities(known, plan, config.max_train_customers, config.seed)
    purchase_features = feature_names(store, PURCHASE_SERVICE)
    ltv_features = feature_names(store, LTV_SERVICE)
    missing = set(ltv_features) - set(purchase_features)
    started = time.perf_counter()

    def retrieve(labelled: pl.DataFrame) -> pl.DataFrame:
        frame = historical_features(labelled, PURCHASE_SERVICE, store=store)
        if missing:
            extra = historical_features(
                labelled.select("customer_id", CUTOFF), LTV_SERVICE, store=store
            )
            frame = frame.with_columns(extra.select(sorted(missing)))
        return frame

    frame = training.build_training_set(entities, orders, plan.horizon_days, retrieve)
    seconds = time.perf_counter() - started
    for column in BASELINE_COLUMNS:
        if column not in frame.columns:
            raise ValueError(f"the baselines need {column!r}, not in {PURCHASE_SERVICE}")
    fingerprint = data_fingerprint(
        frame.height, int(frame.hash_rows(seed=0).sum()), config.__dict__
    )
    return TrainingSet(frame, plan, purchase_features, ltv_features, fingerprint, seconds)


def beats_baselines(table: pl.DataFrame, model_name: str) -> dict[str, Any]:
    """The verdict of the quality check: the model's test metric above every baseline's. A
    baseline whose metric is undefined (NaN) is left out; a model whose metric is undefined, or
    with no baseline to compare with, does not pass."""
    metric, baselines = CHECKED_METRIC[model_name]
    scores = dict(zip(table["scorer"], table[metric], strict=True))
    model = float(scores["model"])
    defined = [float(scores[b]) for b in baselines if np.isfinite(scores[b])]
    best = max(defined, default=float("nan"))
    passed = bool(np.isfinite(model) and np.isfinite(best) and model > best)
    return {"passed": passed, "metric": metric, "model": model, "best_baseline": best}


def headline_metrics(table: pl.DataFrame, names: tuple[str, ...]) -> dict[str, float]:
    """``<scorer>/<metric>`` floats for the UI, to plot over time. An undefined metric (NaN:
    e.g. the log loss of a baseline whose score is not a probability) is left out: a 0 there
    would read as a perfect score."""
    return {
        f"{row['scorer']}/{name}": float(row[name])
        for row in table.iter_rows(named=True)
        for name in names
        if np.isfinite(row[name])
    }


def _metric_dict(table: pl.DataFrame) -> dict[str, dict[str, float]]:
    return {
        row["scorer"]: {k: float(v) for k, v in row.items() if k != "scorer"}
        for row in table.iter_rows(named=True)
    }


@dataclass
class TrainResult:
    version: str
    folder: Path
    model: PurchaseModel | ZilnModel
    decision: Decision
    check: dict[str, Any]  # the beats_baselines verdict
    metrics: pl.DataFrame  # one row per scorer (model, baselines)
    tables: dict[str, pl.DataFrame]
    importance: pl.DataFrame
    seconds: float
    rounds: dict[str, int]


def _meta(ts: TrainingSet, features: list[str], service: str, config: dict[str, Any]):
    return {
        "feature_service": service,
        "features": features,
        "cutoffs": ts.plan.as_dict(),
        "horizon_days": ts.plan.horizon_days,
        "data_fingerprint": ts.fingerprint,
        "split_rows": {
            s: int(ts.frame.filter(pl.col("split") == s).height) for s in training.SPLITS
        },
        "params": config,
        "libraries": library_versions(),
    }


def _split(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {s: frame.filter(pl.col("split") == s) for s in training.SPLITS}


def train_purchase(
    ts: TrainingSet, registry: Registry, params: BoosterParams | None = None
) -> TrainResult:
    """Fit, evaluate on the test cutoff next to the baselines, register with the verdict of
    beats_baselines; promote if it passed and is not worse (ROC AUC) than the champion
    re-scored on the same test rows."""
    import time

    params = params or BoosterParams()
    parts = _split(ts.frame)
    started = time.perf_counter()
    model = PurchaseModel.fit(
        parts["train"], parts["validation"], ts.purchase_features, params=params
    )
    seconds = time.perf_counter() - started
    rfm = RfmBaseline.fit(parts["train"])
    test = parts["test"]
    table, calibration, lift = training.evaluate_purchase(test, model.predict(test), rfm)
    check = beats_baselines(table, PURCHASE_MODEL)
    version, folder = registry.new_version(PURCHASE_MODEL, ts.fingerprint)
    model_meta = model.save(folder)
    registry.write_metadata(
        PURCHASE_MODEL,
        version,
        {
            **_meta(ts, ts.purchase_features, PURCHASE_SERVICE, params.__dict__),
            "model": model_meta,
            "metrics": _metric_dict(table),
            "checks": {CHECK: check},
            "train_seconds": seconds,
        },
    )
    auc = check["model"]

    def champion_auc(old: str) -> float | None:
        meta = registry.metadata(PURCHASE_MODEL, old)
        if set(meta["features"]) - set(test.columns):
            return None
        old_model = PurchaseModel.load(registry.folder(PURCHASE_MODEL, old), meta["model"])
        from dagster_project.lib.models.metrics import classification_metrics

        y = test["label_bought"].to_numpy()
        return classification_metrics(y, old_model.predict(test))["roc_auc"]

    decision = registry.decide(
        PURCHASE_MODEL, version, auc, champion_auc, "roc_auc", PROMOTION_TOLERANCE
    )
    return TrainResult(
        version,
        folder,
        model,
        decision,
        check,
        table,
        {"calibration": calibration, "lift": lift},
        model.importance(),
        seconds,
        {"purchase": model.booster.current_iteration()},
    )


def train_ltv(
    ts: TrainingSet, registry: Registry, params: BoosterParams | None = None
) -> TrainResult:
    """The ZILN model: fit, evaluate (normalized Gini, Spearman, decile MAPE, total spend error)
    next to the baselines, register with the verdict of beats_baselines; promote if it passed and
    is not worse (normalized Gini) than the champion."""
    import time

    from dagster_project.lib.models.metrics import normalized_gini

    params = params or BoosterParams()
    parts = _split(ts.frame)
    started = time.perf_counter()
    model = training.fit_ziln(ts.frame, ts.ltv_features, ts.plan.horizon_days, params)
    seconds = time.perf_counter() - started
    rfm = RfmBaseline.fit(parts["train"])
    test = parts["test"]
    predicted = model.predict(test)
    table, deciles = training.evaluate_value(
        test, predicted["expected_value_krw"].to_numpy(), rfm, ts.plan.horizon_days
    )
    check = beats_baselines(table, LTV_MODEL)
    version, folder = registry.new_version(LTV_MODEL, ts.fingerprint)
    model_meta = model.save(folder)
    registry.write_metadata(
        LTV_MODEL,
        version,
        {
            **_meta(ts, ts.ltv_features, LTV_SERVICE, params.__dict__),
            "model": model_meta,
            "metrics": _metric_dict(table),
            "checks": {CHECK: check},
            "train_seconds": seconds,
        },
    )
    gini = check["model"]
    spend = test["label_spend_krw"].to_numpy()

    def champion_gini(old: str) -> float | None:
        meta = registry.metadata(LTV_MODEL, old)
        if set(meta["features"]) - set(test.columns):
            return None
        old_model = ZilnModel.load(registry.folder(LTV_MODEL, old), meta["model"])
        return normalized_gini(spend, old_model.predict(test)["expected_value_krw"].to_numpy())

    decision = registry.decide(
        LTV_MODEL, version, gini, champion_gini, "normalized_gini", PROMOTION_TOLERANCE
    )
    return TrainResult(
        version,
        folder,
        model,
        decision,
        check,
        table,
        {"deciles": deciles},
        model.purchase.importance(),
        seconds,
        {
            "purchase": model.purchase.booster.current_iteration(),
            "mu": model.mu.current_iteration(),
            "sigma": model.sigma.current_iteration(),
        },
    )


def _load_champion(registry: Registry, name: str) -> tuple[Any, dict[str, Any]] | None:
    """The champion of ``name`` (the last version that passed its checks and won
    champion/challenger) and its metadata, or None when no version has passed yet."""
    version = registry.champion(name)
    if version is None:
        return None
    meta = registry.metadata(name, version)
    kind = PurchaseModel if name == PURCHASE_MODEL else ZilnModel
    return kind.load(registry.folder(name, version), meta["model"]), meta


def _fallback_baseline(registry: Registry, horizon_days: int | None) -> tuple[RfmBaseline, int]:
    """The RFM baseline fitted on the training rows of the stored training set (the one the
    models were last trained on), for the parts no model has passed yet."""
    try:
        ts = load_training_set(registry.root)
    except ValueError as err:
        raise ValueError(
            f"no model in {registry.root} has passed {CHECK} and there is no training set to fit "
            "the baseline from: train first (model_retraining_job, or "
            "`mopt materialize --select 'group:models'`)"
        ) from err
    if horizon_days is not None and ts.plan.horizon_days != horizon_days:
        raise ValueError(
            f"the champion predicts {horizon_days} days ahead, the training set "
            f"{ts.plan.horizon_days}: one horizon per scores table; retrain the models"
        )
    train = ts.frame.filter(pl.col("split") == "train")
    return RfmBaseline.fit(train), ts.plan.horizon_days


def check_line(registry: Registry, name: str, version: str | None = None) -> str | None:
    """``version``'s (default: the newest candidate's) verdict with both figures, e.g.
    "purchase_probability 20260101T... did not beat its baselines (test roc_auc 0.612, best
    baseline 0.645)"; None when nothing is trained."""
    version = version or next(reversed(registry.versions(name)), None)
    if version is None:
        return None
    check = registry.metadata(name, version)["checks"][CHECK]
    verdict = "beat" if check["passed"] else "did not beat"
    return (
        f"{name} {version} {verdict} its baselines (test {check['metric']} "
        f"{check['model']:.3f}, best baseline {check['best_baseline']:.3f})"
    )


def source_note(versions: dict[str, str], registry: Registry | None = None) -> str:
    """One line on where the scores come from: the champions, or the RFM baseline and why (with
    the newest candidate's figures next to its best baseline's when it failed its check and
    ``registry`` is given)."""
    waiting = [name for name, v in versions.items() if v == BASELINE_VERSION]
    if not waiting:
        return f"champions {', '.join(f'{n} {v}' for n, v in versions.items())} (passed {CHECK})"
    if len(waiting) == len(versions):
        note = f"no model has passed {CHECK} yet; serving the RFM baseline"
    else:
        [name] = waiting
        served = "p_buy" if name == PURCHASE_MODEL else "expected value"
        note = f"{name} has not passed {CHECK} yet; serving the RFM baseline for {served}"
    lines = [check_line(registry, name) for name in waiting] if registry else []
    figures = [line for line in lines if line and " did not beat " in line]
    return "; ".join([note, *figures])


def score_customers(
    registry: Registry, store, customer_file: Path
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Scores of every customer with a snapshot as of the newest one (the end of the last
    business day): the gold.customer_scores columns. p_buy comes from the purchase champion and
    the value columns from the ZILN champion; a part whose model has not passed its checks yet
    is served by the RFM baseline instead, labelled in ``p_buy_source`` / ``value_source`` and
    ``model_version``."""
    from dagster_project.lib.features import historical_features

    purchase = _load_champion(registry, PURCHASE_MODEL)
    ltv = _load_champion(registry, LTV_MODEL)
    known = customers_first_seen(customer_file)
    as_of = pl.scan_parquet(customer_file).select(pl.col(CUTOFF).max()).collect().item()
    entities = known.select("customer_id").with_columns(
        pl.lit(as_of).cast(pl.Datetime("us")).alias(CUTOFF)
    )
    frame = historical_features(entities, PURCHASE_SERVICE, store=store)
    missing = set(ltv[1]["features"]) - set(frame.columns) if ltv else set()
    if missing:
        extra = historical_features(entities, LTV_SERVICE, store=store)
        frame = frame.with_columns(extra.select(sorted(missing)))
    horizons = {int(m["horizon_days"]) for _, m in filter(None, (purchase, ltv))}
    if len(horizons) > 1:
        raise ValueError(f"the champions predict different horizons {sorted(horizons)}")
    horizon = next(iter(horizons), None)
    baseline = None
    if purchase is None or ltv is None:
        rfm, horizon = _fallback_baseline(registry, horizon)
        baseline = rfm.serve(frame).with_columns(pl.col("p_buy").alias("p_buy_ltv"))
    if purchase is None:
        p_buy = baseline.select("p_buy")
    else:
        p_buy = pl.DataFrame({"p_buy": purchase[0].predict(frame)})
    if ltv is None:
        values = baseline.drop("p_buy")
    else:
        values = (
            ltv[0]
            .predict(frame)
            .select(
                "expected_value_krw",
                "value_p10_krw",
                "value_p50_krw",
                "value_p90_krw",
                pl.col("p_buy").alias("p_buy_ltv"),
            )
        )
    versions = {
        name: BASELINE_VERSION if part is None else part[1]["version"]
        for name, part in ((PURCHASE_MODEL, purchase), (LTV_MODEL, ltv))
    }
    labels = [v if v == BASELINE_VERSION else f"{n}:{v}" for n, v in versions.items()]
    scores = pl.concat([frame.select("customer_id"), p_buy, values], how="horizontal").select(
        "customer_id",
        pl.lit(as_of).cast(pl.Datetime("us")).alias("scored_at"),
        pl.lit(horizon).cast(pl.Int32).alias("horizon_days"),
        "p_buy",
        "expected_value_krw",
        "value_p10_krw",
        "value_p50_krw",
        "value_p90_krw",
        "p_buy_ltv",
        pl.lit("+".join(dict.fromkeys(labels))).alias("model_version"),
        pl.lit("baseline" if purchase is None else "model").alias("p_buy_source"),
        pl.lit("baseline" if ltv is None else "model").alias("value_source"),
    )
    return scores, {"as_of": as_of, "versions": versions, "note": source_note(versions, registry)}


def write_scores(con: duckdb.DuckDBPyConnection, scores: pl.DataFrame, features_dir: Path) -> Path:
    """Replace gold.customer_scores, and write the Parquet Feast's customer_scores view reads
    (event_timestamp = scored_at, so a point-in-time join never sees scores before they exist)."""
    con.execute("create schema if not exists gold")
    con.register("scores_frame", scores.to_arrow())
    con.execute(f"create or replace table {SCORES_TABLE} as select * from scores_frame")
    con.unregister("scores_frame")
    path = Path(features_dir) / SCORES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    scores.with_columns(
        pl.col("scored_at").alias(CUTOFF),
        pl.lit(datetime.now()).cast(pl.Datetime("us")).alias("created_timestamp"),
    ).write_parquet(path)
    return path


def scores_summary(scores: pl.DataFrame) -> pl.DataFrame:
    """Customers, mean p_buy and total expected value per p_buy band (for the UI)."""
    band = (
        pl.when(pl.col("p_buy") < 0.05)
        .then(pl.lit("< 0.05"))
        .when(pl.col("p_buy") < 0.1)
        .then(pl.lit("0.05-0.1"))
        .when(pl.col("p_buy") < 0.2)
        .then(pl.lit("0.1-0.2"))
        .when(pl.col("p_buy") < 0.4)
        .then(pl.lit("0.2-0.4"))
        .otherwise(pl.lit(">= 0.4"))
    )
    return (
        scores.with_columns(band.alias("p_buy_band"))
        .group_by("p_buy_band")
        .agg(
            pl.len().alias("customers"),
            pl.col("p_buy").mean().alias("mean_p_buy"),
            pl.col("expected_value_krw").sum().alias("expected_value_krw"),
        )
        .sort("mean_p_buy")
    )


def as_json(value: Any) -> str:
    return json.dumps(value, default=str, indent=2)


def save_training_set(ts: TrainingSet, folder: Path) -> Path:
    """The training set as Parquet plus a JSON of its plan and feature lists (for the model
    assets downstream)."""
    folder.mkdir(parents=True, exist_ok=True)
    ts.frame.write_parquet(folder / "training_set.parquet")
    (folder / "training_set.json").write_text(
        as_json(
            {
                "plan": ts.plan.as_dict(),
                "purchase_features": ts.purchase_features,
                "ltv_features": ts.ltv_features,
                "fingerprint": ts.fingerprint,
                "seconds_retrieval": ts.seconds_retrieval,
            }
        )
    )
    return folder / "training_set.parquet"


def load_training_set(folder: Path) -> TrainingSet:
    path = folder / "training_set.parquet"
    if not path.exists():
        raise ValueError(f"{path} does not exist: materialize models/training_set first")
    meta = json.loads((folder / "training_set.json").read_text())
    plan = training.CutoffPlan(
        [datetime.fromisoformat(c) for c in meta["plan"]["train"]],
        datetime.fromisoformat(meta["plan"]["validation"]),
        datetime.fromisoformat(meta["plan"]["test"]),
        int(meta["plan"]["horizon_days"]),
        meta["plan"].get("history_days"),
        meta["plan"].get("requested_horizon_days"),
    )
    return TrainingSet(
        pl.read_parquet(path),
        plan,
        meta["purchase_features"],
        meta["ltv_features"],
        meta["fingerprint"],
        meta["seconds_retrieval"],
    )


def champion_summary(models_root: Path) -> list[str]:
    """One line per model: its champion's test metric next to the best baseline's, or that none
    has passed its checks yet (for the demo's summary); empty when nothing is trained."""
    registry = Registry(models_root)
    lines = []
    for name in CHECKED_METRIC:
        version = registry.champion(name)
        if version is None:
            if registry.versions(name):
                lines.append(f"model {check_line(registry, name)}; scores use the RFM baseline")
            continue
        lines.append(f"model {check_line(registry, name, version)}; champion")
    if lines:
        lines.append(f"customer scores: {SCORES_TABLE} and Feast service customer_scores_v1")
    return lines
