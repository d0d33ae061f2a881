"""The purchase-probability and ZILN lifetime-value models as assets: the training set (Feast
point-in-time features at rolling cutoffs, labels from silver orders), the two models (registry
under <data dir>/models, champion/challenger on the same test window, metrics as numbers) and the
batch scores of every current customer (gold.customer_scores, Parquet and Feast online store).

Feast and LightGBM are imported inside the asset bodies: importing them at definitions load would
cost every UI, code-server and test start several seconds."""

import math
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from dagster_project.defs import metadata as md
from dagster_project.defs.features.assets import (
    FEATURE_FILE_KEYS,
    ONLINE_STORE_KEY,
    REGISTRY_KEY,
    feast_settings,
)
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.transform.assets import model_key
from dagster_project.lib.settings import Settings

TRAINING_SET_KEY = dg.AssetKey(["models", "training_set"])
PURCHASE_KEY = dg.AssetKey(["models", "purchase_probability"])
LTV_KEY = dg.AssetKey(["models", "ltv"])
SCORES_KEY = dg.AssetKey(["gold", "customer_scores"])
GROUP = "models"


def models_dir() -> Path:
    return Settings.from_env().data_dir / "models"


class TrainingSetConfig(dg.Config):
    horizon_days: int = 30
    """Label window: did the customer buy, and how much, in the H days from the cutoff."""
    step_days: int = 14
    max_train_cutoffs: int = 6
    max_train_customers: int = 8_000
    """Customers sampled per training cutoff (validation and test keep everyone)."""
    seed: int = 0


class ModelConfig(dg.Config):
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 40
    seed: int = 0


def _table(frame: pl.DataFrame, digits: int = 4) -> dg.MetadataValue:
    return md.table(frame, digits=dict.fromkeys(frame.columns, digits))


@dg.asset(
    key=TRAINING_SET_KEY,
    group_name=GROUP,
    kinds={"feast", "parquet"},
    pool="duckdb",
    deps=[REGISTRY_KEY, *FEATURE_FILE_KEYS, model_key("int_orders__enriched")],
)
def training_set(
    context: dg.AssetExecutionContext, config: TrainingSetConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Examples (customer, cutoff) at rolling cutoffs: features as of the cutoff from Feast's
    point-in-time retrieval (purchase_probability_v1, which holds ltv_v1's features), labels =
    bought and spend in the H days from the cutoff (silver orders). Split by time: the last
    complete window is the test, the one before validation, earlier cutoffs training."""
    from dagster_project.lib import features
    from dagster_project.lib.models import pipeline

    settings = feast_settings(warehouse)
    store = features.feature_store(settings)
    with warehouse.connect(read_only=True) as con:
        orders = pipeline.load_orders(con)
    cfg = pipeline.TrainingSetConfig(
        horizon_days=config.horizon_days,
        step_days=config.step_days,
        max_train_cutoffs=config.max_train_cutoffs,
        max_train_customers=config.max_train_customers,
        seed=config.seed,
    )
    ts = pipeline.build_feature_training_set(
        orders, store, settings.features_dir / "customer__daily.parquet", cfg
    )
    path = pipeline.save_training_set(ts, models_dir())
    context.log.info(ts.plan.describe())
    context.log.info(f"{ts.frame.height:,} examples, Feast retrieval {ts.seconds_retrieval:.1f} s")
    splits = (
        ts.frame.group_by("split", "event_timestamp")
        .agg(
            pl.len().alias("rows"),
            pl.col("label_bought").mean().alias("buy_rate"),
            pl.col("label_spend_krw").mean().alias("mean_spend_krw"),
        )
        .sort("event_timestamp")
    )
    metadata: dict[str, Any] = {
        "dagster/row_count": ts.frame.height,
        "retrieval_seconds": ts.seconds_retrieval,
        "plan": ts.plan.describe(),
        "cutoffs": _table(splits),
        "horizon_days": ts.plan.horizon_days,
        "features": len(ts.purchase_features),
        "data_fingerprint": ts.fingerprint,
        "path": dg.MetadataValue.path(str(path)),
    }
    for split in ("train", "validation", "test"):
        part = ts.frame.filter(pl.col("split") == split)
        metadata[f"rows/{split}"] = part.height
        if part.height:  # no rows, no rate (not a rate of 0)
            metadata[f"buy_rate/{split}"] = float(part["label_bought"].mean())
    return dg.MaterializeResult(metadata=metadata)


def _model_metadata(result, headline: dict[str, float]) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "version": result.version,
        "champion": result.decision.champion or "none (no version has passed beats_baselines)",
        "promoted": result.decision.promoted,
        "decision": result.decision.message,
        "train_seconds": result.seconds,
        "metrics": _table(result.metrics),
        "feature_importance": _table(result.importance.head(15), 1),
        "model_folder": dg.MetadataValue.path(str(result.folder)),
    }
    metadata.update({k: float(v) for k, v in headline.items()})
    for name, rounds in result.rounds.items():
        metadata[f"rounds/{name}"] = rounds
    return metadata


def _train(context: dg.AssetExecutionContext, config: ModelConfig, model: str, metrics):
    """Train one model ("purchase" or "ltv") on the stored training set, register it as a
    candidate with its beats_baselines verdict (champion only if it passed, logged), and return
    the result with its headline test metrics as ``<scorer>/<metric>`` floats."""
    from dagster_project.lib.models import pipeline
    from dagster_project.lib.models.registry import Registry
    from dagster_project.lib.models.ziln import BoosterParams

    train = {"purchase": pipeline.train_purchase, "ltv": pipeline.train_ltv}[model]
    params = BoosterParams(
        learning_rate=config.learning_rate,
        num_leaves=config.num_leaves,
        min_data_in_leaf=config.min_data_in_leaf,
        seed=config.seed,
    )
    result = train(pipeline.load_training_set(models_dir()), Registry(models_dir()), params)
    # Beside the model files, for the marketing report (`mopt report`) to chart the champion's.
    for name, table in result.tables.items():
        table.write_parquet(result.folder / f"{name}.parquet")
    (context.log.info if result.decision.promoted else context.log.warning)(result.decision.message)
    return result, pipeline.headline_metrics(result.metrics, metrics)


@dg.asset(
    key=PURCHASE_KEY,
    group_name=GROUP,
    kinds={"lightgbm"},
    # Reads only files, but runs in the warehouse pool like every asset (one step at a time).
    pool="duckdb",
    deps=[TRAINING_SET_KEY],
    check_specs=[
        dg.AssetCheckSpec(
            "beats_baselines",
            asset=PURCHASE_KEY,
            blocking=False,
            description="Test ROC AUC above the recency-only and RFM scores; a version that"
            " fails is registered but never becomes the champion (a warning: the run goes"
            " on and serves the champion, or the RFM baseline).",
        )
    ],
)
def purchase_probability(
    context: dg.AssetExecutionContext, config: ModelConfig
) -> dg.MaterializeResult:
    """P(buy within H days): a LightGBM binary classifier on purchase_probability_v1, early
    stopping on the validation cutoff. Test metrics (ROC AUC, PR AUC, log loss, Brier) next to
    the recency and RFM baselines, a calibration table and lift by decile. Registered; becomes
    the champion unless the current champion does better on the same test window."""
    result, headline = _train(
        context, config, "purchase", ("roc_auc", "pr_auc", "log_loss", "brier")
    )
    metadata = _model_metadata(result, headline)
    from dagster_project.lib import charts

    calibration = result.tables["calibration"]
    metadata["calibration"] = md.table(calibration, rates=["predicted_rate", "observed_rate"])
    metadata["calibration_chart"] = md.chart(
        charts.calibration(
            calibration,
            "predicted_rate",
            "observed_rate",
            "Calibration on the test window: observed vs predicted, per decile",
        ),
        "Calibration",
    )
    lift = result.tables["lift"]
    metadata["lift_by_decile"] = _table(lift, 2)
    metadata["lift_chart"] = md.chart(
        charts.bars(lift, "decile", "lift", "Lift by decile of p_buy (1 = highest)", "lift"),
        "Lift by decile",
    )
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[_beats_baselines(result.check)],
    )


@dg.asset(
    key=LTV_KEY,
    group_name=GROUP,
    kinds={"lightgbm"},
    # Reads only files, but runs in the warehouse pool like every asset (one step at a time).
    pool="duckdb",
    deps=[TRAINING_SET_KEY],
    check_specs=[
        dg.AssetCheckSpec(
            "beats_baselines",
            asset=LTV_KEY,
            blocking=False,
            description="Test normalized Gini above past spend and the RFM cell mean; a version"
            " that fails is registered but never becomes the champion (a warning: the run goes"
            " on and serves the champion, or the RFM baseline).",
        )
    ],
)
def ltv(context: dg.AssetExecutionContext, config: ModelConfig) -> dg.MaterializeResult:
    """Spend over H days, zero-inflated lognormal: a LightGBM purchase part, a lognormal mean
    (log spend of buyers) and a per-customer spread; expected value p * exp(mu + sigma^2 / 2) and
    quantiles. Test metrics (normalized Gini, Spearman, decile MAPE, total spend error) next to
    past spend scaled to H and the RFM cell mean; a decile chart of predicted vs actual spend."""
    result, headline = _train(
        context,
        config,
        "ltv",
        ("normalized_gini", "spearman", "decile_mape", "total_spend_relative_error"),
    )
    metadata = _model_metadata(result, headline)
    from dagster_project.lib import charts

    deciles = result.tables["deciles"]
    metadata["deciles"] = md.table(deciles)
    metadata["decile_chart"] = md.chart(
        charts.predicted_vs_actual(
            deciles,
            "decile",
            "mean_predicted_krw",
            "mean_actual_krw",
            "Spend per decile of predicted value (test window): predicted vs actual",
            "mean spend per customer (KRW)",
        ),
        "LTV deciles, predicted vs actual",
    )
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[_beats_baselines(result.check)],
    )


def _beats_baselines(check: dict[str, Any]) -> dg.AssetCheckResult:
    """The check of a model asset, as the registry recorded it. A warning, not a stop: promotion
    follows the registry's verdict (a version that fails never becomes the champion), so the run
    goes on and scores with the champion, or the labelled RFM baseline, whichever this gives."""
    values = {"model": check["model"], "best_baseline": check["best_baseline"]}
    return dg.AssetCheckResult(
        check_name="beats_baselines",
        passed=check["passed"],
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "metric": check["metric"],
            **{f"{k}_{check['metric']}": v for k, v in values.items() if math.isfinite(v)},
        },
    )


@dg.asset(
    key=SCORES_KEY,
    group_name="gold",
    kinds={"duckdb", "feast"},
    pool="duckdb",
    deps=[PURCHASE_KEY, LTV_KEY, ONLINE_STORE_KEY, *FEATURE_FILE_KEYS],
    check_specs=[
        dg.AssetCheckSpec(
            "scores_are_valid",
            asset=SCORES_KEY,
            description="One row per customer, p_buy in [0, 1], values >= 0, p10 <= p50 <= p90,"
            " and the online store returns the scores of sampled customers.",
        )
    ],
)
def customer_scores(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Scores of every current customer from the champion models (the last versions that passed
    beats_baselines), as of the newest feature snapshot: p_buy, expected spend and its 10/50/90 %
    quantiles over the horizon (KRW), the model versions. While a model has no passing version,
    its columns come from the RFM baseline, labelled (p_buy_source / value_source 'baseline').
    Written to gold.customer_scores and to Parquet for Feast's customer_scores view, which is
    materialized so online reads (customer_scores_v1) return them."""
    from dagster_project.lib import features
    from dagster_project.lib.models import pipeline
    from dagster_project.lib.models.registry import Registry

    settings = feast_settings(warehouse)
    store = features.feature_store(settings)
    scores, info = pipeline.score_customers(
        Registry(models_dir()), store, settings.features_dir / "customer__daily.parquet"
    )
    with warehouse.connect() as con:
        path = pipeline.write_scores(con, scores, settings.features_dir)
    # The scores view only: the first run loads its whole (one-day) history, later ones the new
    # day, as for the feature views.
    features.apply_repo(store, settings.features_dir)
    runs = [
        r for r in features.materialize_online_store(store) if r.feature_view == "customer_scores"
    ]
    sample = scores.sort("expected_value_krw", descending=True).head(20)["customer_id"].to_list()
    online = features.online_features(sample, "customer_scores_v1", store=store)
    online_ok = online.height == len(sample) and online["p_buy"].null_count() == 0
    valid = (
        scores["customer_id"].n_unique() == scores.height
        and scores["p_buy"].is_between(0, 1).all()
        and (scores["expected_value_krw"] >= 0).all()
        and (scores["value_p10_krw"] <= scores["value_p50_krw"]).all()
        and (scores["value_p50_krw"] <= scores["value_p90_krw"]).all()
    )
    context.log.info(f"scored {scores.height:,} customers as of {info['as_of']}")
    baseline = pipeline.BASELINE_VERSION in info["versions"].values()
    (context.log.warning if baseline else context.log.info)(info["note"])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": scores.height,
            "score_source": info["note"],
            "scored_at": str(info["as_of"]),
            "model_versions": dg.MetadataValue.json(info["versions"]),
            "mean_p_buy": float(scores["p_buy"].mean() or 0.0),
            "expected_value_total_krw": float(scores["expected_value_krw"].sum()),
            "by_p_buy_band": _table(pipeline.scores_summary(scores), 4),
            "top_customers": _table(scores.sort("expected_value_krw", descending=True).head(10)),
            "online_rows_written": sum(r.rows for r in runs),
            "path": dg.MetadataValue.path(str(path)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="scores_are_valid",
                passed=bool(valid and online_ok),
                metadata={"rows": scores.height, "online_sample_ok": bool(online_ok)},
            )
        ],
    )
