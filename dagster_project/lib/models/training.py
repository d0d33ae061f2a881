"""Training sets at rolling cutoffs, a time split, fitting the purchase and ZILN models, and their
evaluation next to the baselines. Used by the Dagster assets (features from Feast) and by the
backtest (features from orders alone) alike.

Time split, for a horizon H and a last cutoff C whose labels are (or will be) known:
test = C, validation = C - H, training = C - 2H, C - 2H - step, ... So every training label window
[c, c + H) ends at or before the validation cutoff, and the validation window ends at the test
cutoff: nothing the model is judged on was visible when it was fitted. Optional refit cutoffs lie
between the last training cutoff and the validation cutoff: their labels end before the test
cutoff but overlap the validation window, so they join only the refit (see ``fit_ziln``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from dagster_project.lib.models import metrics
from dagster_project.lib.models.baselines import RfmBaseline, past_spend_scaled, recency_score
from dagster_project.lib.models.orders import CUTOFF, label_orders
from dagster_project.lib.models.ziln import BoosterParams, PurchaseModel, ZilnModel

SPLITS = ("train", "validation", "test")
FIT_SPLITS = ("train", "refit", "validation")  # the rows the final ZILN model is fitted on
# The shortest horizon worth a model: two weeks of labels hold a week-day cycle twice.
MIN_HORIZON_DAYS = 14


@dataclass(frozen=True)
class CutoffPlan:
    train: list[datetime]
    validation: datetime
    test: datetime
    horizon_days: int
    history_days: int | None = None  # the days of data the plan was fitted to
    requested_horizon_days: int | None = None
    refit: list[datetime] = field(default_factory=list)
    """Cutoffs after the last training one and before the validation one, for the refit only."""

    def describe(self) -> str:
        """One line: the history, the training cutoffs and the horizon, and why it is shorter
        than asked if it is."""
        step = self.train[1] - self.train[0] if len(self.train) > 1 else None
        cutoffs = f"{len(self.train)} training cutoff{'s' if len(self.train) > 1 else ''}"
        if step:
            cutoffs += f" {step.days} days apart"
        line = f"horizon {self.horizon_days} days"
        asked = self.requested_horizon_days
        if asked and asked != self.horizon_days:
            line += f" (shortened from {asked} to fit the history)"
        prefix = f"history {self.history_days} days: " if self.history_days is not None else ""
        return f"{prefix}{cutoffs}, {line}"

    def as_frame(self) -> pl.DataFrame:
        rows = [(c, "train") for c in self.train] + [(c, "refit") for c in self.refit]
        rows += [(self.validation, "validation"), (self.test, "test")]
        return pl.DataFrame(
            rows, schema={CUTOFF: pl.Datetime("us"), "split": pl.String}, orient="row"
        ).sort(CUTOFF)

    def as_dict(self) -> dict[str, object]:
        return {
            "train": [c.isoformat() for c in self.train],
            "refit": [c.isoformat() for c in self.refit],
            "validation": self.validation.isoformat(),
            "test": self.test.isoformat(),
            "horizon_days": self.horizon_days,
            "history_days": self.history_days,
            "requested_horizon_days": self.requested_horizon_days,
        }


def plan_cutoffs(
    test: datetime,
    earliest: datetime,
    horizon_days: int,
    step_days: int = 14,
    max_train_cutoffs: int = 6,
    refit_cutoffs: bool = False,
) -> CutoffPlan:
    """The cutoffs for a test cutoff ``test``: validation one horizon before, then up to
    ``max_train_cutoffs`` training cutoffs every ``step_days`` from two horizons before, none
    before ``earliest`` (the first moment with enough history for the features). With
    ``refit_cutoffs``, also every ``step_days`` back from the validation cutoff to the last
    training one (exclusive), for the refit."""
    horizon = timedelta(days=horizon_days)
    validation = test - horizon
    train = [validation - horizon - timedelta(days=step_days * k) for k in range(max_train_cutoffs)]
    train = sorted(c for c in train if c >= earliest)
    step = timedelta(days=step_days)
    refit = [validation - step * k for k in range(1, -(-horizon_days // step_days))]
    refit = sorted(c for c in refit if c >= earliest) if refit_cutoffs else []
    if not train:
        raise ValueError(
            f"no training cutoff: test {test:%Y-%m-%d} - 2 x {horizon_days} days is before the "
            f"first usable cutoff {earliest:%Y-%m-%d}; use a shorter horizon or more history"
        )
    return CutoffPlan(train, validation, test, horizon_days, refit=refit)


def fit_plan(
    first: datetime,
    newest: datetime,
    horizon_days: int,
    step_days: int = 14,
    max_train_cutoffs: int = 6,
    min_history_days: int = 28,
) -> CutoffPlan:
    """The cutoffs for data from ``first`` to ``newest``, adapted to the history: the test window
    is the last H days, with H the asked horizon or, when the history is too short for it, the
    longest that leaves a training cutoff (min_history_days of features, then training,
    validation and test windows of H days each), and as many training cutoffs as fit (at most
    ``max_train_cutoffs``). Below a horizon of MIN_HORIZON_DAYS it is an error."""
    history = (newest - first).days
    horizon = min(horizon_days, (history - min_history_days) // 3)
    if horizon < MIN_HORIZON_DAYS:
        needed = min_history_days + 3 * MIN_HORIZON_DAYS
        raise ValueError(
            f"history {history} days: too short to train the models; they need at least "
            f"{needed} days ({min_history_days} days of features, then training, validation and "
            f"test windows of at least {MIN_HORIZON_DAYS} days each)"
        )
    plan = plan_cutoffs(
        newest - timedelta(days=horizon),
        first + timedelta(days=min_history_days),
        horizon,
        step_days,
        max_train_cutoffs,
    )
    return CutoffPlan(plan.train, plan.validation, plan.test, horizon, history, horizon_days)


def sample_entities(
    known: pl.DataFrame, plan: CutoffPlan, max_train_customers: int | None, seed: int
) -> pl.DataFrame:
    """Entity rows (customer_id, event_timestamp, split): at each cutoff, every customer known by
    then (``known``: customer_id, first_seen_at). Training cutoffs keep a seeded random sample of
    at most ``max_train_customers`` customers each (feature retrieval time grows with the rows);
    validation and test keep everyone."""
    parts = []
    for i, (cutoff, split) in enumerate(plan.as_frame().iter_rows()):
        ids = known.filter(pl.col("first_seen_at") <= cutoff).sort("customer_id")["customer_id"]
        if split == "train" and max_train_customers and ids.len() > max_train_customers:
            rng = np.random.default_rng([seed, i])
            ids = ids.gather(np.sort(rng.choice(ids.len(), max_train_customers, replace=False)))
        parts.append(
            pl.DataFrame({"customer_id": ids}).with_columns(
                pl.lit(cutoff).cast(pl.Datetime("us")).alias(CUTOFF), pl.lit(split).alias("split")
            )
        )
    return pl.concat(parts)


def build_training_set(
    entities: pl.DataFrame,
    orders: pl.DataFrame,
    horizon_days: int,
    features: Callable[[pl.DataFrame], pl.DataFrame],
) -> pl.DataFrame:
    """Labels from orders, then features as of each row's cutoff (``features`` returns the
    entity frame with feature columns added: Feast's point-in-time retrieval, or the orders-only
    features)."""
    labelled = label_orders(entities, orders, horizon_days)
    return features(labelled)


@dataclass
class Evaluation:
    """Test-window metrics of the models and the baselines, and the tables behind them."""

    purchase: pl.DataFrame  # one row per scorer: roc_auc, pr_auc, log_loss, brier, base_rate
    value: pl.DataFrame  # one row per scorer: normalized_gini, spearman, decile_mape, ...
    calibration: pl.DataFrame
    lift: pl.DataFrame
    deciles: pl.DataFrame
    rows: int
    buyers: int

    def metric(self, table: str, scorer: str, name: str) -> float:
        frame = self.purchase if table == "purchase" else self.value
        return float(frame.filter(pl.col("scorer") == scorer)[name][0])

    def flat(self) -> dict[str, float]:
        """Every metric as ``<table>/<scorer>/<metric>`` floats (for JSON and Dagster)."""
        out: dict[str, float] = {"test_rows": float(self.rows), "test_buyers": float(self.buyers)}
        for table, frame in (("purchase", self.purchase), ("value", self.value)):
            for row in frame.iter_rows(named=True):
                for key, value in row.items():
                    if key != "scorer":
                        out[f"{table}/{row['scorer']}/{key}"] = float(value)
        return out


def evaluate_purchase(
    test: pl.DataFrame,
    p_buy: np.ndarray,
    rfm: RfmBaseline,
    extra: dict[str, np.ndarray] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Purchase metrics of the model and the baselines (one row per scorer), the model's
    calibration table and its lift by decile."""
    y = test["label_bought"].to_numpy()
    scorers = {"model": p_buy, "recency": recency_score(test), "rfm": rfm.score(test)}
    scorers.update(extra or {})
    table = pl.DataFrame(
        [{"scorer": k, **metrics.classification_metrics(y, v)} for k, v in scorers.items()]
    )
    return table, metrics.calibration_table(y, p_buy), metrics.lift_table(y, p_buy)


def evaluate_value(
    test: pl.DataFrame,
    expected_value: np.ndarray,
    rfm: RfmBaseline,
    horizon_days: int,
    extra: dict[str, np.ndarray] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Value metrics of the model and the baselines (one row per scorer) and the model's decile
    table (mean predicted vs actual spend)."""
    spend = test["label_spend_krw"].to_numpy()
    scorers = {
        "model": expected_value,
        "rfm": rfm.value(test),
        "past_spend": past_spend_scaled(test, horizon_days),
    }
    scorers.update(extra or {})
    table = pl.DataFrame(
        [{"scorer": k, **metrics.value_metrics(spend, v)} for k, v in scorers.items()]
    )
    return table, metrics.decile_table(spend, expected_value)


def evaluate(
    test: pl.DataFrame,
    p_buy: np.ndarray,
    expected_value: np.ndarray,
    rfm: RfmBaseline,
    horizon_days: int,
    extra: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Evaluation:
    """Metrics of the model's (p_buy, expected value) on labelled rows, next to the baselines and
    any ``extra`` scorers given as {name: (purchase score, value prediction)}."""
    extra = extra or {}
    purchase, calibration, lift = evaluate_purchase(
        test, p_buy, rfm, {k: v[0] for k, v in extra.items()}
    )
    value, deciles = evaluate_value(
        test, expected_value, rfm, horizon_days, {k: v[1] for k, v in extra.items()}
    )
    y = test["label_bought"].to_numpy()
    return Evaluation(purchase, value, calibration, lift, deciles, len(y), int(y.sum()))


@dataclass
class TrainedModels:
    purchase: PurchaseModel
    ltv: ZilnModel
    rfm: RfmBaseline
    purchase_features: list[str]
    ltv_features: list[str]
    evaluation: Evaluation | None
    seconds: dict[str, float] = field(default_factory=dict)
    split_rows: dict[str, int] = field(default_factory=dict)


def fit_ziln(
    frame: pl.DataFrame,
    features: list[str],
    horizon_days: int,
    params: BoosterParams | None = None,
    base: tuple[str, str] | None = None,
) -> ZilnModel:
    """The ZILN model of a training set with a ``split`` column. Early stopping on the validation
    cutoff picks the rounds; then the model is refitted with them on every labelled cutoff
    (training, refit and validation rows), and its level (Platt for p, the spend shift, the
    spread's scale) is set on the cutoffs of the last horizon before the validation cutoff
    included, pooled. The newest cutoff alone makes the level that of one quarter's calendar (on
    CDNOW a holiday quarter, then a quiet one: +15 % at 1998-01-01); the windows starting within
    one horizon average over it. The refit matters on a young customer base: the training
    cutoffs fall in the acquisition months, when nobody had more than a few weeks of history,
    while the validation and refit customers are the closest in age to those scored.
    ``base``: as in ``ZilnModel.fit``."""
    params = params or BoosterParams()
    parts = {s: frame.filter(pl.col("split") == s) for s in FIT_SPLITS}
    for split in ("train", "validation"):
        if parts[split].is_empty():
            raise ValueError(f"the training set has no {split} rows")
    first = ZilnModel.fit(parts["train"], parts["validation"], features, params=params, base=base)
    rounds = max(first.purchase.booster.current_iteration(), first.mu.current_iteration())
    fixed = replace(params, max_rounds=rounds, early_stopping_rounds=rounds + 1)
    labelled = pl.concat([parts[s] for s in FIT_SPLITS])
    newest = parts["validation"][CUTOFF].max()
    recent = labelled.filter(pl.col(CUTOFF) >= newest - timedelta(days=horizon_days))  # type: ignore[operator]
    return ZilnModel.fit(labelled, recent, features, params=fixed, base=base)


def fit_models(
    frame: pl.DataFrame,
    purchase_features: list[str],
    ltv_features: list[str],
    horizon_days: int,
    params: BoosterParams | None = None,
) -> TrainedModels:
    """Fit the purchase model and the ZILN model on the ``train`` rows (early stopping on
    ``validation``) and, when there are ``test`` rows, evaluate them next to the baselines."""
    params = params or BoosterParams()
    parts = {s: frame.filter(pl.col("split") == s) for s in SPLITS}
    for split in ("train", "validation"):
        if parts[split].is_empty():
            raise ValueError(f"the training set has no {split} rows")
    seconds = {}
    started = time.perf_counter()
    purchase = PurchaseModel.fit(
        parts["train"], parts["validation"], purchase_features, params=params
    )
    seconds["purchase"] = time.perf_counter() - started
    started = time.perf_counter()
    ltv = fit_ziln(frame, ltv_features, horizon_days, params)
    seconds["ltv"] = time.perf_counter() - started
    rfm = RfmBaseline.fit(parts["train"])
    evaluation = None
    if not parts["test"].is_empty():
        test = parts["test"]
        evaluation = evaluate(
            test,
            purchase.predict(test),
            ltv.predict(test)["expected_value_krw"].to_numpy(),
            rfm,
            horizon_days,
        )
    return TrainedModels(
        purchase,
        ltv,
        rfm,
        purchase_features,
        ltv_features,
        evaluation,
        seconds,
        {s: parts[s].height for s in SPLITS},
    )


def score(models: TrainedModels | tuple[PurchaseModel, ZilnModel], frame: pl.DataFrame):
    """p_buy (purchase model) and the ZILN value columns for each row of ``frame``."""
    purchase, ltv = (models.purchase, models.ltv) if isinstance(models, TrainedModels) else models
    values = ltv.predict(frame)
    return frame.select("customer_id").with_columns(
        pl.Series("p_buy", purchase.predict(frame)),
        values["expected_value_krw"],
        values["value_p10_krw"],
        values["value_p50_krw"],
        values["value_p90_krw"],
        values["p_buy"].alias("p_buy_ltv"),
    )
