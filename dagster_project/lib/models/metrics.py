"""Metrics for the purchase (binary) and lifetime-value (spend) predictions, from sklearn.metrics
and scipy.stats. Value metrics follow Wang, Liu and Miao (2019), "A Deep Probabilistic Model for
Customer Lifetime Value Prediction": normalized Gini, Spearman, decile MAPE, total spend error."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats
from sklearn import metrics

DECILES = 10


def _deciles(score: np.ndarray) -> np.ndarray:
    """Decile of each score, 1 = highest tenth; ties broken by position (stable), so deciles have
    equal sizes even when many scores tie (e.g. a baseline that is 0 for most customers)."""
    order = np.argsort(-score, kind="stable")
    decile = np.empty(len(score), dtype=np.int64)
    decile[order] = np.arange(len(score)) * DECILES // max(len(score), 1) + 1
    return decile


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), log loss and Brier score of probabilities ``p``. Log
    loss and Brier are only meaningful for probabilities: scores outside [0, 1] give NaN."""
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    is_prob = bool(np.all((p >= 0) & (p <= 1)))
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": float(metrics.roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(metrics.average_precision_score(y, p)) if both else float("nan"),
        "log_loss": float(metrics.log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]))
        if is_prob
        else float("nan"),
        "brier": float(metrics.brier_score_loss(y, p)) if is_prob else float("nan"),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
    }


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = DECILES) -> pl.DataFrame:
    """Mean predicted vs observed purchase rate per decile of the prediction (1 = highest)."""
    frame = pl.DataFrame({"decile": _deciles(np.asarray(p)), "y": y, "p": p})
    return (
        frame.group_by("decile")
        .agg(
            pl.len().alias("customers"),
            pl.col("p").mean().alias("predicted_rate"),
            pl.col("y").mean().alias("observed_rate"),
        )
        .sort("decile")
    )


def lift_table(y: np.ndarray, score: np.ndarray) -> pl.DataFrame:
    """Buyers per decile of the score and their rate relative to the overall rate (lift)."""
    base = float(np.mean(y)) if len(y) else 0.0
    frame = pl.DataFrame({"decile": _deciles(np.asarray(score)), "y": y})
    return (
        frame.group_by("decile")
        .agg(pl.len().alias("customers"), pl.col("y").sum().alias("buyers"))
        .sort("decile")
        .with_columns(
            (pl.col("buyers") / pl.col("customers")).alias("rate"),
        )
        .with_columns((pl.col("rate") / base if base else pl.lit(None)).alias("lift"))
        .with_columns(
            (pl.col("buyers").cum_sum() / max(float(np.sum(y)), 1.0)).alias("cumulative_share")
        )
    )


def _gini(actual: np.ndarray, score: np.ndarray) -> float:
    """Area between the cumulative share of ``actual`` (customers ordered by ``score``, highest
    first) and the diagonal. Tied scores are one step, so their order does not matter."""
    frame = (
        pl.DataFrame({"s": score, "a": actual})
        .group_by("s")
        .agg(pl.len().alias("n"), pl.col("a").sum())
        .sort("s", descending=True)
    )
    n = frame["n"].to_numpy().astype(np.float64)
    a = frame["a"].to_numpy().astype(np.float64)
    total = a.sum()
    if total <= 0:
        return float("nan")
    x = np.concatenate([[0.0], np.cumsum(n) / n.sum()])
    y = np.concatenate([[0.0], np.cumsum(a) / total])
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))  # trapezoids: ties averaged
    return area - 0.5


def normalized_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Gini of the predicted ordering divided by the Gini of the perfect ordering (1 = perfect,
    0 = random)."""
    actual = np.asarray(actual, dtype=np.float64)
    best = _gini(actual, actual)
    return _gini(actual, np.asarray(predicted, dtype=np.float64)) / best if best else float("nan")


def decile_table(actual: np.ndarray, predicted: np.ndarray) -> pl.DataFrame:
    """Mean predicted and actual spend per decile of the prediction (1 = highest)."""
    frame = pl.DataFrame(
        {"decile": _deciles(np.asarray(predicted)), "actual": actual, "predicted": predicted}
    )
    return (
        frame.group_by("decile")
        .agg(
            pl.len().alias("customers"),
            pl.col("predicted").mean().alias("mean_predicted_krw"),
            pl.col("actual").mean().alias("mean_actual_krw"),
        )
        .sort("decile")
    )


def value_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Normalized Gini, Spearman, decile MAPE (mean absolute percentage error of the mean spend
    per predicted decile) and the relative error of total predicted vs actual spend."""
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    deciles = decile_table(actual, predicted)
    per_decile = deciles.filter(pl.col("mean_actual_krw") > 0)
    total = float(actual.sum())
    return {
        "normalized_gini": normalized_gini(actual, predicted),
        "spearman": float(stats.spearmanr(actual, predicted).statistic),
        "decile_mape": float(
            metrics.mean_absolute_percentage_error(
                per_decile["mean_actual_krw"], per_decile["mean_predicted_krw"]
            )
        )
        if per_decile.height
        else float("nan"),
        "total_spend_relative_error": float((predicted.sum() - total) / total)
        if total
        else float("nan"),
        "actual_total_krw": total,
        "predicted_total_krw": float(predicted.sum()),
    }


def bar(value: float, top: float, width: int = 20) -> str:
    """A text bar for Markdown charts."""
    if not top or not np.isfinite(value):
        return ""
    return "█" * max(0, round(width * value / top))
