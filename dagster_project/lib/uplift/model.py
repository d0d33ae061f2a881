"""A two-model (treatment / control) LightGBM uplift learner for coupon campaigns.

Training rows: one per assignment of a past coupon campaign (gold.fct_campaign_sends, complete
response windows), with the customer's features as they were when assigned: the newest
gold.feat_customer__daily snapshot whose event_timestamp (when that day's data was complete) is
at or before assigned_at, by a DuckDB ASOF join. One classifier learns P(convert | features) on
the treatment arm, one on the holdout; uplift = the difference.

Evaluation is leave-one-campaign-out: every coupon campaign is scored by models that never saw
it, and the pooled held-out scores are judged with the Qini curve and uplift-at-k, next to
random targeting and to targeting by purchase probability alone (the control model's
prediction, standing in for the purchase-probability model's score)."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import lightgbm as lgb
import numpy as np
import polars as pl

from dagster_project.lib.warehouse import newest_snapshots

NON_FEATURES = {"customer_id", "snapshot_date", "event_timestamp", "created_timestamp"}
CATEGORICAL = (
    "gender",
    "age_band",
    "region",
    "acquisition_channel",
    "favourite_category_l1",
    "preferred_price_band",
)
K_FRACTIONS = (0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class UpliftParams:
    num_boost_round: int = 150
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 40
    feature_fraction: float = 0.8
    seed: int = 7
    # One thread: on a shared 2-core machine two threads ran 10x slower (4.2 s vs 0.4 s a fit).
    num_threads: int = 1

    def lgb_params(self) -> dict:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_seed": self.seed,
            "feature_fraction_seed": self.seed,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbose": -1,
        }


def coupon_training_rows(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Assignments of coupon campaigns with complete windows, with point-in-time features."""
    # The ASOF join finds each send's snapshot date on the key columns alone, then the features
    # join on it: an ASOF join carrying every feature column sorted all of them (46.9 s and
    # 9.3 GB at 100,000 x 365 days; 12.6 s and 2.8 GB this way, the same rows).
    return con.sql(
        """
        with sends as (
            select
                s.campaign_id, s.customer_id, s.assigned_at, s.is_treatment,
                s.is_converted::int as converted, s.revenue_krw,
                k.snapshot_date as feature_snapshot_date
            from gold.fct_campaign_sends as s
            inner join gold.dim_campaigns as c using (campaign_id)
            asof left join (
                select customer_id, event_timestamp, snapshot_date from gold.feat_customer__daily
            ) as k
                on k.customer_id = s.customer_id and k.event_timestamp <= s.assigned_at
            where c.has_coupon and s.is_window_complete
        )
        select
            s.*,
            f.* exclude (customer_id, snapshot_date, event_timestamp, created_timestamp),
        from sends as s
        left join gold.feat_customer__daily as f
            on f.customer_id = s.customer_id and f.snapshot_date = s.feature_snapshot_date
        order by s.campaign_id, s.customer_id
        """
    ).pl()


def latest_features(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Each customer's newest feature snapshot (for scoring today's customers)."""
    return con.sql(
        "select * exclude (snapshot_date, event_timestamp, created_timestamp)"
        f" from ({newest_snapshots()}) order by customer_id"
    ).pl()


def feature_columns(frame: pl.DataFrame) -> list[str]:
    skip = NON_FEATURES | {
        "campaign_id",
        "assigned_at",
        "is_treatment",
        "converted",
        "revenue_krw",
        "feature_snapshot_date",
    }
    return [
        c
        for c, t in frame.schema.items()
        if c not in skip and (t.is_numeric() or t == pl.Boolean or c in CATEGORICAL)
    ]


def _matrix(frame: pl.DataFrame, columns: list[str], levels: dict[str, list[str]]) -> np.ndarray:
    """Numbers as float (null -> NaN, which LightGBM handles); categories as their code in
    `levels` (unknown -> NaN), passed to LightGBM as categorical features."""
    exprs = []
    for c in columns:
        if c in levels:
            exprs.append(
                pl.col(c)
                .replace_strict(levels[c], list(range(len(levels[c]))), default=None)
                .cast(pl.Float64)
            )
        else:
            exprs.append(pl.col(c).cast(pl.Float64))
    return frame.select(exprs).to_numpy().astype(np.float64)


@dataclass
class TwoModel:
    columns: list[str]
    levels: dict[str, list[str]]
    treatment: lgb.Booster
    control: lgb.Booster

    def predict(self, frame: pl.DataFrame) -> pl.DataFrame:
        x = _matrix(frame, self.columns, self.levels)
        p_t, p_c = self.treatment.predict(x), self.control.predict(x)
        return pl.DataFrame({"p_treated": p_t, "p_control": p_c, "uplift": p_t - p_c})


def fit_two_model(rows: pl.DataFrame, params: UpliftParams | None = None) -> TwoModel:
    params = params or UpliftParams()
    columns = feature_columns(rows)
    levels = {
        c: sorted(rows[c].drop_nulls().unique().to_list()) for c in columns if c in CATEGORICAL
    }
    cats = [i for i, c in enumerate(columns) if c in levels]
    boosters = []
    for arm in (True, False):
        part = rows.filter(pl.col("is_treatment") == arm)
        if part.height < 20 or part["converted"].n_unique() < 2:
            raise ValueError(
                f"too few {'treatment' if arm else 'holdout'} rows ({part.height}) or no "
                "variation in conversion to train the uplift model"
            )
        data = lgb.Dataset(
            _matrix(part, columns, levels),
            label=part["converted"].to_numpy(),
            feature_name=columns,
            categorical_feature=cats,
            free_raw_data=True,
        )
        boosters.append(
            lgb.train(params.lgb_params(), data, num_boost_round=params.num_boost_round)
        )
    return TwoModel(columns, levels, boosters[0], boosters[1])


def qini_curve(score: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """Q(n) for n = 0..N targeted in score order (ties: row order): treated conversions minus
    control conversions scaled to the treated count, R_t(n) - R_c(n) * N_t(n) / N_c(n)."""
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    t = np.asarray(treated, dtype=bool)[order]
    y = np.asarray(outcome, dtype=np.float64)[order]
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    r_t, r_c = np.cumsum(y * t), np.cumsum(y * ~t)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(n_c > 0, r_t - r_c * n_t / n_c, r_t)
    return np.concatenate([[0.0], q])


def qini_coefficient(score: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> float:
    """Area between the Qini curve and the random-targeting diagonal, per customer squared (x and
    y both as shares of the population): 0 for random targeting, > 0 for better than random."""
    q = qini_curve(score, treated, outcome)
    n = q.size - 1
    diagonal = np.arange(n + 1) * q[-1] / n
    return float(np.trapezoid(q - diagonal) / n**2)


def uplift_at_k(
    score: np.ndarray, treated: np.ndarray, outcome: np.ndarray, k: float
) -> float | None:
    """Conversion rate of treated minus control among the top `k` share by score."""
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    top = order[: max(1, int(round(k * order.size)))]
    t = np.asarray(treated, dtype=bool)[top]
    y = np.asarray(outcome, dtype=np.float64)[top]
    if t.sum() == 0 or (~t).sum() == 0:
        return None
    return float(y[t].mean() - y[~t].mean())


@dataclass
class Evaluation:
    held_out: pl.DataFrame  # every row with its out-of-campaign scores
    summary: pl.DataFrame  # one row per strategy: qini and uplift at k
    per_campaign: pl.DataFrame  # qini per held-out campaign and strategy
    random_qinis: list[float] = field(default_factory=list)


def _strategy_scores(held: pl.DataFrame, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "uplift_model": held["uplift"].to_numpy(),
        "purchase_probability": held["p_control"].to_numpy(),
        "random": rng.random(held.height),
    }


def evaluate_leave_one_campaign_out(
    rows: pl.DataFrame, params: UpliftParams | None = None, random_draws: int = 50
) -> Evaluation:
    """Score each coupon campaign with a two-model learner trained on the others."""
    params = params or UpliftParams()
    campaigns = sorted(rows["campaign_id"].unique().to_list())
    if len(campaigns) < 2:
        raise ValueError(f"need at least two coupon campaigns to hold one out, found {campaigns}")
    parts = []
    for held_out in campaigns:  # one fit per campaign, a handful
        train = rows.filter(pl.col("campaign_id") != held_out)
        test = rows.filter(pl.col("campaign_id") == held_out)
        model = fit_two_model(train, params)
        parts.append(
            pl.concat(
                [
                    test.select("campaign_id", "customer_id", "is_treatment", "converted"),
                    model.predict(test),
                ],
                how="horizontal",
            )
        )
    held = pl.concat(parts)
    t, y = held["is_treatment"].to_numpy(), held["converted"].to_numpy()
    summary_rows = []
    for name, score in _strategy_scores(held, params.seed).items():
        row = {"strategy": name, "qini": qini_coefficient(score, t, y)}
        for k in K_FRACTIONS:
            row[f"uplift_at_{int(k * 100)}"] = uplift_at_k(score, t, y, k)
        summary_rows.append(row)
    summary = pl.DataFrame(summary_rows)
    rng = np.random.default_rng(params.seed + 1)
    random_qinis = [qini_coefficient(rng.random(held.height), t, y) for _ in range(random_draws)]
    per = []
    for (campaign,), part in held.group_by("campaign_id", maintain_order=True):
        pt, py = part["is_treatment"].to_numpy(), part["converted"].to_numpy()
        for name, score in _strategy_scores(part, params.seed).items():
            per.append(
                {
                    "campaign_id": campaign,
                    "strategy": name,
                    "rows": part.height,
                    "qini": qini_coefficient(score, pt, py),
                }
            )
    return Evaluation(held, summary, pl.DataFrame(per), random_qinis)
