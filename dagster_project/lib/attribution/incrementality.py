"""Incrementality-aware attribution: the model the budget should trust.

1. An outcome model (LightGBM, binary) of "does the customer convert at this moment?" on the
   channel exposures active at that moment plus the customer's point-in-time features then (so
   that a channel aimed at customers who were about to buy anyway is not mistaken for one that
   makes them buy). Moments: every converting journey's conversion (label 1) and
   `controls_per_journey` moments drawn uniformly (seeded) in each journey's span, from its first
   touch to its end, when the customer did not convert (label 0). A channel's exposure at a
   moment is the sum over the journey's earlier exposures of exp(-age / tau), for tau = 1 and 7
   days: the effect of an ad wears off, and a channel that reaches everyone every day (so is in
   every journey, converting or not) is then no more present at conversions than at other times
   unless it moves them. Journeys differ in length (a converting one ends at its order), so
   plain counts per journey would measure the window, not the channel.
2. Each converting journey's conversion is split by the model's counterfactuals at its conversion
   moment: g(S) = the model's odds with only the channels in S exposed (the others set to zero);
   conversions are rare per moment, so odds are proportional to the conversion rate (and
   unaffected by the sampling of control moments). The journey's channels get their exact Shapley
   values phi_c of g over its channel set divided by g(S); the rest, g(empty) / g(S), is the
   baseline: the share of the conversion that would have happened without marketing. Vectorised:
   journeys are grouped by channel set (at most 2^8 = 256 with 8 channels) and each group is
   predicted once for all subsets of its set. A channel's share goes to its exposures in the
   journey in proportion to their weight at the conversion (so to campaigns).
3. Where campaigns have randomized holdouts (treatment vs holdout assignments), the measured
   incremental orders and their 95 % confidence interval bound the model's credit for that
   channel: credit outside the interval is scaled to its nearest end, the difference going to
   the baseline (never below zero). Like with like: the holdout counts orders within the
   campaign's own response window after assignment, and the model's credit compared with it is
   the credit of that campaign's touches to conversions within the same window after the
   touch.

Exposures are the marketer's actions (impressions and sends) when the data has touch types:
clicks, opens and visits follow the customer's own intent to visit, so counting them would credit
channels for sessions that were going to happen anyway. A channel with no exposure-type touch at
all (e.g. a click-only export) is counted by all its touches.

Organic activity (the organic visits of `Journeys.organic` and the channels' visits, clicks and
opens) is never credited; on the days before the moment it is a covariate that says the customer
is already shopping (decayed counts and days since the last one), so a channel aimed at shoppers
is compared with shoppers. Whole days before the moment only: the converting session itself is a
visit. No covariate derived from marketing touches (e.g. days since the last touch) is used: it
would be held fixed when the exposures are removed. Credit is never negative: the model is
monotone (non-decreasing) in every exposure feature, so adding a channel never lowers the odds
and every Shapley value is >= 0. The AUC is measured on customers held out of training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import polars as pl
from scipy.stats import mannwhitneyu, norm

from dagster_project.lib.attribution.journeys import EXPOSURE_TYPES, Journeys
from dagster_project.lib.attribution.models import shapley_weights

FeatureLookup = Callable[[pl.DataFrame], pl.DataFrame]
"""(customer_id, at) rows -> one row of customer features per input row, in order."""


@dataclass(frozen=True)
class IncrementalityConfig:
    n_estimators: int = 150
    learning_rate: float = 0.1
    max_bin: int = 63
    # Training moments kept at most (a seeded uniform sample beyond): sampling both classes at
    # the same rate leaves the odds ratios, so the credit, unchanged; 400k rows train in ~20 s.
    max_training_rows: int = 400_000
    num_leaves: int = 15
    min_child_samples: int = 100
    reg_lambda: float = 1.0
    # One thread: on this shared 2-core machine (load average 6-8) LightGBM's OpenMP workers
    # spin-wait on each other, and 2 threads trained 5x slower than 1 (28 s vs 5 s, 50 rounds
    # on 325k rows).
    num_threads: int = 1
    seed: int = 7
    exposure_types: tuple[str, ...] = EXPOSURE_TYPES
    # Time constants (days) of the exposure features exp(-age / tau), and how many days back
    # exposures count (exp(-14 / 4) = 3 %).
    decay_days: tuple[float, ...] = (1.0, 4.0)
    window_days: int = 14
    # Control moments (days without a conversion) per journey, on average.
    controls_per_journey: float = 3.0
    # Share of units (customers) held out of training for the reported AUC.
    validation_share: float = 0.2
    # Business days for day-level exposure ages.
    timezone: str = "UTC"
    # Holdout calibration: confidence level of the measured lift's interval.
    confidence: float = 0.95


@dataclass
class IncrementalityResult:
    weights: np.ndarray  # per touch: share of its journey's conversion (exposure touches only)
    baseline_share: np.ndarray  # per journey: g(empty) / g(S) (1 without exposures)
    channel_effect: dict[str, float]  # marketing-driven conversions credited per channel
    auc: float  # out of sample: on the held-out customers' moments
    training_rows: int
    features: list[str]
    calibration: pl.DataFrame = field(default_factory=pl.DataFrame)
    # (journeys x channels) share of a channel active at the conversion with no touch in the
    # journey (see _spread_over_touches); None = all zero.
    carryover: np.ndarray | None = None


def _is_exposure(jr: Journeys, exposure_types: tuple[str, ...]) -> np.ndarray:
    """Per touch: does it count as an exposure (see the module docstring)?"""
    t = jr.touches
    typed = t["touch_type"].is_in(list(exposure_types)).fill_null(False)
    by_channel = (
        pl.DataFrame({"ch": t["ch"], "typed": typed}).group_by("ch").agg(pl.col("typed").any())
    )
    has = dict(zip(by_channel["ch"], by_channel["typed"], strict=True))
    fallback = ~t["ch"].replace_strict(has, return_dtype=pl.Boolean)
    return (typed | fallback).to_numpy()


def _days(ts: pl.Expr, timezone: str) -> pl.Expr:
    """Business day number (days since 1970-01-01 in `timezone`) of a UTC timestamp."""
    return ts.dt.convert_time_zone(timezone).dt.date().cast(pl.Int32)


def moments(
    jr: Journeys,
    controls_per_journey: float,
    seed: int,
    timezone: str = "UTC",
    max_controls: int | None = None,
    window_days: int = 14,
) -> pl.DataFrame:
    """Training moments: unit, day, label, j, at. Each converting journey's conversion day (label
    1, at = the conversion; j = the journey) and, as controls (label 0, j null), days drawn at
    random (seeded) on which the unit did not convert, about `controls_per_journey` per journey
    on average, so customer time is sampled evenly. Only days whose whole exposure window is in
    the data count: a journey's touches are kept `jr.lookback_days` before its end, so a
    control is drawn from the union of those spans, at least `window_days` after a span's start
    (a conversion's window always is inside its journey's span)."""
    journeys = jr.journeys.select("j", "as_of", "converted", unit=_unit(jr)).with_columns(
        lo=_days(pl.col("as_of") - pl.duration(days=jr.lookback_days), timezone),
        hi=_days(pl.col("as_of"), timezone),
    )
    conversions = journeys.filter("converted").select(
        "unit", day="hi", label=pl.lit(1, pl.Int8), j="j", at="as_of"
    )
    # Merge each unit's overlapping spans, then keep the days with a full window.
    span = (
        journeys.sort("unit", "lo")
        .with_columns(reach=pl.col("hi").cum_max().shift(1).over("unit"))
        .with_columns(
            part=(pl.col("reach").is_null() | (pl.col("lo") > pl.col("reach") + 1))
            .cum_sum()
            .over("unit")
        )
        .group_by("unit", "part")
        .agg(d0=pl.col("lo").min() + window_days, d1=pl.col("hi").max())
        .filter(pl.col("d1") >= pl.col("d0"))
        .sort("unit", "part")
        .with_columns(length=pl.col("d1") - pl.col("d0") + 1)
    )
    wanted = controls_per_journey * jr.journeys.height
    if max_controls is not None:
        wanted = min(wanted, max_controls)
    length = span["length"].to_numpy().astype(np.int64)
    rate = min(1.0, wanted / max(int(length.sum()), 1))
    rng = np.random.default_rng(seed)
    row = np.repeat(np.arange(span.height), rng.binomial(length, rate))
    offset = np.floor(rng.random(row.size) * length[row]).astype(np.int32)
    picked = span[row.tolist()] if row.size else span.clear()
    controls = (
        picked.select("unit", day=(pl.col("d0") + pl.Series(offset)).cast(pl.Int32))
        .unique(maintain_order=True)
        .join(conversions.select("unit", "day"), on=["unit", "day"], how="anti")
    )
    controls = controls.select(
        "unit",
        "day",
        label=pl.lit(0, pl.Int8),
        j=pl.lit(None, pl.UInt32),
        at=pl.col("day")
        .cast(pl.Date)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone(timezone)
        .dt.convert_time_zone("UTC"),
    )
    return pl.concat(
        [conversions, controls.select(conversions.columns)], how="vertical_relaxed"
    ).with_columns(pl.col("day").cast(pl.Int32))


def _unit(jr: Journeys) -> pl.Expr:
    """Whose exposures count at a moment: the customer's (all journeys) when every journey has a
    customer id, else the journey's own."""
    if jr.journeys["customer_id"].null_count() == 0:
        return pl.col("customer_id")
    return pl.col("journey_id")


def _decayed(
    at: pl.DataFrame,
    event_days: pl.DataFrame,
    n_groups: int,
    decay_days: tuple[float, ...],
    ages: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per moment (rows of `at`: unit, day) and group g of `event_days` (unit, day, g, n), for
    each tau: sum over the events `ages` days before the moment's day of n exp(-age / tau),
    shape (moments, taus x groups), tau-major; and the youngest such age per moment and group
    (inf when none)."""
    pairs = (
        at.select("unit", "day")
        .with_row_index("m")
        .join(pl.DataFrame({"age": ages.astype(np.int32)}), how="cross")
        .with_columns(day=pl.col("day") - pl.col("age"))
        .join(event_days, on=["unit", "day"], how="inner")
    )
    key = pairs["m"].to_numpy().astype(np.int64) * n_groups + pairs["g"].to_numpy().astype(np.int64)
    age = pairs["age"].to_numpy().astype(np.float64)
    count = pairs["n"].to_numpy().astype(np.float64)
    size = at.height * n_groups
    blocks = [
        np.bincount(key, weights=count * np.exp(-age / tau), minlength=size).reshape(
            at.height, n_groups
        )
        for tau in decay_days
    ]
    youngest = np.full(size, np.inf)
    np.minimum.at(youngest, key, age)
    return np.hstack(blocks), youngest.reshape(at.height, n_groups)


def exposure_features(
    jr: Journeys,
    is_exposure: np.ndarray,
    at: pl.DataFrame,
    decay_days: tuple[float, ...],
    window_days: int,
    timezone: str = "UTC",
) -> np.ndarray:
    """Per moment (rows of `at`: unit, day) and channel, for each tau: the sum over the unit's
    exposures on that day or the `window_days` before of exp(-age in days / tau). Whole days: a
    same-day impression counts whether it came before or after the moment within the day
    (exposure logs place an impression that led to a click just before the visit, which would
    otherwise make any channel look causal). Shape (moments, taus x channels), tau-major."""
    exposure_days = (
        jr.touches.filter(pl.Series(is_exposure))
        .join(jr.journeys.select("j", unit=_unit(jr)), on="j")
        .group_by("unit", day=_days(pl.col("touched_at"), timezone), g="ch")
        .agg(n=pl.len())
    )
    ages = np.arange(window_days + 1)
    return _decayed(at, exposure_days, jr.n_channels, decay_days, ages)[0]


def organic_features(
    jr: Journeys,
    is_exposure: np.ndarray,
    at: pl.DataFrame,
    decay_days: tuple[float, ...],
    window_days: int,
    timezone: str = "UTC",
) -> tuple[np.ndarray, list[str]]:
    """Per moment: the unit's organic activity on the `window_days` days before the moment's day
    (organic visits, and the channels' visits, clicks and opens: whatever the customer did),
    summed with exp(-age / tau) per tau, and the days since the last of it (window + 1 when
    none)."""
    unit = _unit(jr)
    own = jr.touches.filter(~pl.Series(is_exposure) & pl.col("touch_type").is_not_null())
    if unit.meta.output_name() == "customer_id":
        organic = jr.organic.select("customer_id", "touched_at")
    else:
        organic = (
            jr.organic.filter(pl.col("j").is_not_null())
            .join(jr.journeys.select("j", "journey_id"), on="j")
            .select("journey_id", "touched_at")
        )
    activity = pl.concat(
        [
            own.join(jr.journeys.select("j", unit=unit), on="j").select("unit", "touched_at"),
            organic.select(unit=unit, touched_at="touched_at"),
        ]
    )
    activity_days = activity.group_by(
        "unit", day=_days(pl.col("touched_at"), timezone), g=pl.lit(0, pl.Int64)
    ).agg(n=pl.len())
    decayed, youngest = _decayed(at, activity_days, 1, decay_days, np.arange(1, window_days + 1))
    since = np.minimum(youngest, window_days + 1)
    names = [f"organic_activity_tau{tau:g}d" for tau in decay_days]
    return np.hstack([decayed, since]), [*names, "organic_days_since"]


# Customer features computed from marketing touches are post-treatment: removing the exposures
# would change them, so they are never model inputs (matched on the column name).
MARKETING_FEATURE_WORDS = ("touch", "impression", "send", "click", "exposure", "campaign", "utm")


def _numeric(features: pl.DataFrame | None, height: int) -> tuple[np.ndarray, list[str]]:
    if features is None or features.width == 0:
        return np.zeros((height, 0)), []
    cols = [
        c
        for c, dt in features.schema.items()
        if (dt.is_numeric() or dt == pl.Boolean)
        and not any(word in c.lower() for word in MARKETING_FEATURE_WORDS)
    ]
    if not cols:
        return np.zeros((height, 0)), []
    return features.select(pl.col(cols).cast(pl.Float64)).to_numpy(), cols


def attribute(
    jr: Journeys,
    customer_features: FeatureLookup | None = None,
    config: IncrementalityConfig | None = None,
) -> IncrementalityResult:
    """Fit the outcome model and split each converting journey's conversion (module docstring)."""
    cfg = config or IncrementalityConfig()
    n_j, n_ch = jr.journeys.height, jr.n_channels
    is_exp = _is_exposure(jr, cfg.exposure_types)
    # Controls beyond what training keeps would only be dropped again: at 1M journeys this cuts
    # the exposure join from ~49M to ~6M rows.
    n_conv = int(jr.journeys["converted"].sum())
    train_at = moments(
        jr,
        cfg.controls_per_journey,
        cfg.seed,
        cfg.timezone,
        max_controls=max(cfg.max_training_rows - n_conv, cfg.max_training_rows // 2),
        window_days=cfg.window_days,
    )
    x_exp = exposure_features(jr, is_exp, train_at, cfg.decay_days, cfg.window_days, cfg.timezone)
    x_org, org_names = organic_features(
        jr, is_exp, train_at, cfg.decay_days, cfg.window_days, cfg.timezone
    )
    looked_up = None
    if customer_features is not None:
        units = jr.journeys.select(unit=_unit(jr), customer_id="customer_id").unique("unit")
        customer_at = train_at.join(units, on="unit", how="left", maintain_order="left").select(
            "customer_id", "at"
        )
        looked_up = customer_features(customer_at)
    x_cust, cust_names = _numeric(looked_up, train_at.height)
    x = np.hstack([x_exp, x_org, x_cust])
    names = [f"exposure_{c}_tau{tau:g}d" for tau in cfg.decay_days for c in jr.channels]
    names += org_names + cust_names
    y = train_at["label"].to_numpy().astype(np.int32)
    if len(np.unique(y)) < 2:
        raise ValueError("the incrementality model needs converting and non-converting journeys")
    params = {
        "objective": "binary",
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": cfg.min_child_samples,
        "lambda_l2": cfg.reg_lambda,
        "max_bin": cfg.max_bin,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "feature_fraction": 0.9,
        # Exposures can only raise the odds: credit is never negative.
        "monotone_constraints": [1] * x_exp.shape[1] + [0] * (x.shape[1] - x_exp.shape[1]),
        "monotone_constraints_method": "intermediate",
        "seed": cfg.seed,
        "num_threads": cfg.num_threads,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    held_out = _held_out_units(train_at["unit"], cfg.validation_share, cfg.seed)
    fit = np.flatnonzero(~held_out)
    if fit.size > cfg.max_training_rows:
        rng = np.random.default_rng(cfg.seed + 1)
        fit = np.sort(rng.choice(fit, cfg.max_training_rows, replace=False))
    model = lgb.train(params, lgb.Dataset(x[fit], y[fit], feature_name=names), cfg.n_estimators)
    check = np.flatnonzero(held_out)
    auc = _auc(y[check], model.predict(x[check])) if len(np.unique(y[check])) == 2 else np.nan

    # Credit at each converting journey's conversion moment (the label-1 rows).
    conv_rows = np.flatnonzero(y == 1)
    conv_j = train_at["j"].to_numpy()[conv_rows].astype(np.int64)
    x_conv = x[conv_rows]
    # The players: every channel whose exposures are active at the conversion, the customer's
    # earlier journeys' included (their share is the journey's `carryover`).
    masks = (x_conv[:, :n_ch] > 0) @ (1 << np.arange(n_ch, dtype=np.int64))
    share = np.zeros((n_j, n_ch))
    baseline = np.ones(n_j)
    columns = [np.arange(n_ch) + k * n_ch for k in range(len(cfg.decay_days))]
    for mask in np.unique(masks[masks > 0]):
        rows = np.flatnonzero(masks == mask)
        phi, g_full, g_empty = _group_shapley(model, x_conv[rows], int(mask), columns)
        share[conv_j[rows]] = phi / g_full[:, None]
        baseline[conv_j[rows]] = g_empty / g_full
    conv_at = train_at[conv_rows.tolist()].select("j", "at")
    weights, carryover = _spread_over_touches(jr, share, is_exp, conv_at, cfg.decay_days[0])
    effect = {c: float(share[:, k].sum()) for k, c in enumerate(jr.channels)}
    return IncrementalityResult(
        weights=weights,
        carryover=carryover,
        baseline_share=baseline,
        channel_effect=effect,
        auc=auc,
        training_rows=int(fit.size),
        features=names,
    )


def _held_out_units(units: pl.Series, share: float, seed: int) -> np.ndarray:
    """Per moment: is its unit among the `share` of units (seeded) kept out of training?"""
    distinct = units.unique().sort()
    out = distinct.filter(pl.Series(np.random.default_rng(seed + 2).random(distinct.len()) < share))
    return units.is_in(out.implode()).to_numpy()


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC = Mann-Whitney U / (positives x negatives)."""
    pos, neg = score[y == 1], score[y == 0]
    return float(mannwhitneyu(pos, neg).statistic / (pos.size * neg.size))


def _group_shapley(
    model: lgb.Booster, x: np.ndarray, mask: int, columns: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact Shapley values over the channels of `mask` of g = the model's odds, for rows that
    all have that channel set; plus g(all of them) and g(none). `columns[k][c]`: the k-th
    exposure feature column of channel c (a channel's are zeroed together)."""
    n_ch = columns[0].size
    players = [b for b in range(n_ch) if mask >> b & 1]
    n = len(players)
    subsets = np.arange(1 << n)
    # All subsets in one prediction: subsets x rows, channels outside the subset zeroed.
    xs = np.repeat(x[None, :, :], subsets.size, axis=0)
    for k, b in enumerate(players):
        off = np.flatnonzero((subsets >> k & 1) == 0)
        for cols in columns:
            xs[off, :, cols[b]] = 0.0
    raw = model.predict(xs.reshape(-1, x.shape[1]), raw_score=True).reshape(subsets.size, -1)
    g = np.exp(raw)
    w = shapley_weights(n)
    sizes = np.array([bin(int(s)).count("1") for s in subsets])
    phi = np.zeros((x.shape[0], n_ch))
    for k, b in enumerate(players):
        without = subsets[(subsets >> k & 1) == 0]
        gain = g[without | (1 << k)] - g[without]
        phi[:, b] = (w[sizes[without]][:, None] * gain).sum(axis=0)
    # The model is monotone in the exposures, so every gain is >= 0 up to rounding.
    return np.clip(phi, 0.0, None), g[-1], g[0]


def _spread_over_touches(
    jr: Journeys, share: np.ndarray, is_exp: np.ndarray, conv_at: pl.DataFrame, tau: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per touch: its journey's channel share, spread over the channel's exposures before the
    conversion in proportion to exp(-age / tau) (so recent campaigns get more). And per journey
    and channel, the share with no such exposure in the journey (an earlier journey's exposure
    still active): the carry-over, credited to the channel without a campaign."""
    j, ch = jr.arrays()
    at = np.full(jr.journeys.height, np.iinfo(np.int64).min, dtype=np.int64)
    at[conv_at["j"].to_numpy().astype(np.int64)] = conv_at["at"].dt.epoch("us").to_numpy()
    touched = jr.touches["touched_at"].dt.epoch("us").to_numpy()
    age = np.where(at[j] == np.iinfo(np.int64).min, -1.0, (at[j] - touched) / 86_400e6)
    raw = np.where(is_exp & (age >= 0), np.exp(-np.clip(age, 0, None) / tau), 0.0)
    key = j * jr.n_channels + ch
    total = np.bincount(key, weights=raw, minlength=jr.journeys.height * jr.n_channels)
    safe = np.where(total[key] > 0, total[key], 1.0)
    weights = np.where(raw > 0, share.ravel()[key] * raw / safe, 0.0)
    carryover = np.where(total.reshape(share.shape) > 0, 0.0, share)
    return weights, carryover


# ---------------------------------------------------------------------------------------------
# Randomized holdouts


DEFAULT_RESPONSE_DAYS = 7


def holdout_lift(sends: pl.DataFrame, confidence: float = 0.95) -> pl.DataFrame:
    """Measured incremental orders per campaign from treatment vs holdout assignments
    (columns campaign_id, channel, is_treatment, orders, optional response_window_days: the
    window the orders were counted in; complete response windows only): (mean orders treated -
    mean orders holdout) x treated customers, with a normal interval (Welch standard error)."""
    z = float(norm.ppf(0.5 + confidence / 2))
    if "response_window_days" not in sends.columns:
        sends = sends.with_columns(response_window_days=pl.lit(DEFAULT_RESPONSE_DAYS))
    stats = (
        sends.group_by("campaign_id", "channel")
        .agg(
            response_window_days=pl.col("response_window_days").max().cast(pl.Float64),
            n_t=pl.col("is_treatment").sum(),
            n_h=(~pl.col("is_treatment")).sum(),
            mean_t=pl.col("orders").filter(pl.col("is_treatment")).mean(),
            mean_h=pl.col("orders").filter(~pl.col("is_treatment")).mean(),
            var_t=pl.col("orders").filter(pl.col("is_treatment")).var(),
            var_h=pl.col("orders").filter(~pl.col("is_treatment")).var(),
        )
        .filter((pl.col("n_t") > 1) & (pl.col("n_h") > 1))
        .with_columns(
            measured=(pl.col("mean_t") - pl.col("mean_h")) * pl.col("n_t"),
            se=(pl.col("var_t") / pl.col("n_t") + pl.col("var_h") / pl.col("n_h")).sqrt()
            * pl.col("n_t"),
        )
    )
    return stats.with_columns(
        low=pl.col("measured") - z * pl.col("se"), high=pl.col("measured") + z * pl.col("se")
    ).sort("campaign_id")


def calibrate(
    jr: Journeys, result: IncrementalityResult, lift: pl.DataFrame
) -> IncrementalityResult:
    """Calibrate each channel's credit by its holdout campaigns' measured incremental orders: the
    model's credit for those campaigns (the channel's credit on their touches) is compared with
    the sum of their measured lifts and its interval. A conclusive measurement (the interval
    excludes zero) is the target: a randomized experiment beats the observational model where it
    can tell. An inconclusive one only bounds the credit to its interval. The channel's credit is
    scaled to the target (never below zero). Credit taken away goes to the baseline; credit added
    comes from it, and only as far as each journey's baseline reaches (a journey cannot give more
    than its one conversion), so ``calibrated`` may stop short of ``target``."""
    if lift.is_empty():
        return result
    j, _ = jr.arrays()
    conv = jr.journeys["converted"].to_numpy().astype(np.float64)
    if "response_window_days" not in lift.columns:
        lift = lift.with_columns(response_window_days=pl.lit(float(DEFAULT_RESPONSE_DAYS)))
    touch = jr.touches.select("channel", "campaign_id", "days_before").with_columns(
        credit=result.weights * conv[j]
    )
    model = _holdout_campaign_credit(touch, lift, "model")
    per_channel = (
        lift.group_by("channel")
        .agg(
            campaigns=pl.len(),
            measured=pl.col("measured").sum(),
            se=(pl.col("se") ** 2).sum().sqrt(),
        )
        .join(model, on="channel", how="left")
        .with_columns(pl.col("model").fill_null(0.0))
    )
    z = float(norm.ppf(0.5 + IncrementalityConfig().confidence / 2))
    per_channel = (
        per_channel.with_columns(
            low=pl.col("measured") - z * pl.col("se"), high=pl.col("measured") + z * pl.col("se")
        )
        .with_columns(
            target=pl.when((pl.col("low") > 0) | (pl.col("high") < 0))
            .then(pl.col("measured"))
            .otherwise(pl.col("model").clip(pl.col("low"), pl.col("high")))
            .clip(lower_bound=0.0),
        )
        .with_columns(
            factor=pl.when(pl.col("model").abs() > 1e-9)
            .then(pl.col("target") / pl.col("model"))
            .otherwise(1.0)
        )
        .sort("channel")
    )
    factor = dict(zip(per_channel["channel"], per_channel["factor"], strict=True))
    touch_factor = jr.touches["channel"].replace_strict(
        factor, default=1.0, return_dtype=pl.Float64
    )
    new_w = _within_baseline(
        j, result.weights, result.weights * touch_factor.to_numpy(), result.baseline_share
    )
    moved = np.bincount(j, weights=result.weights - new_w, minlength=jr.journeys.height)
    carryover = result.carryover
    if carryover is not None:
        shrink = np.array([min(factor.get(c, 1.0), 1.0) for c in jr.channels])
        moved = moved + (carryover * (1 - shrink)).sum(axis=1)
        carryover = carryover * shrink
    credit = touch.with_columns(credit=new_w * conv[j])
    calibrated = _holdout_campaign_credit(credit, lift, "calibrated")
    per_channel = per_channel.join(calibrated, on="channel", how="left").with_columns(
        pl.col("calibrated").fill_null(0.0)
    )
    effect = pl.concat([credit.select("channel", "credit"), _carryover_credit(jr, carryover)])
    effect = effect.group_by("channel").agg(pl.col("credit").sum())
    return IncrementalityResult(
        weights=new_w,
        carryover=carryover,
        baseline_share=result.baseline_share + moved,
        channel_effect={
            c: float(v) for c, v in zip(effect["channel"], effect["credit"], strict=True)
        },
        auc=result.auc,
        training_rows=result.training_rows,
        features=result.features,
        calibration=per_channel,
    )


def _carryover_credit(jr: Journeys, carryover: np.ndarray | None) -> pl.DataFrame:
    conv = jr.journeys["converted"].to_numpy().astype(np.float64)
    per_channel = np.zeros(jr.n_channels) if carryover is None else conv @ carryover
    return pl.DataFrame({"channel": list(jr.channels), "credit": per_channel})


def _holdout_campaign_credit(credit: pl.DataFrame, lift: pl.DataFrame, name: str) -> pl.DataFrame:
    """Per channel: the credit on touches of the campaigns that have a measured holdout lift, to
    conversions within the campaign's response window after the touch (the holdout's horizon)."""
    return (
        credit.join(lift.select("campaign_id", "response_window_days"), on="campaign_id")
        .filter(pl.col("days_before") <= pl.col("response_window_days"))
        .group_by("channel")
        .agg(pl.col("credit").sum().alias(name))
    )


def _within_baseline(
    j: np.ndarray, weights: np.ndarray, scaled: np.ndarray, baseline: np.ndarray
) -> np.ndarray:
    """``scaled`` with each journey's increases shrunk so they need no more than the journey's
    baseline share plus what its decreases free: the baseline never goes below zero."""
    up = np.clip(scaled - weights, 0.0, None)
    down = np.clip(weights - scaled, 0.0, None)
    n = baseline.shape[0]
    room = np.clip(baseline + np.bincount(j, weights=down, minlength=n), 0.0, None)
    wanted = np.bincount(j, weights=up, minlength=n)
    keep = np.divide(room, wanted, out=np.ones(n), where=wanted > room)
    return weights - down + up * keep[j]
