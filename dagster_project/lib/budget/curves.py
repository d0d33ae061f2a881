"""Response curves: per channel, weekly spend -> incremental orders, with geometric adstock
(carry-over) and Hill saturation (diminishing returns), fitted by penalized maximum likelihood
(MAP) in scipy, with a Laplace approximation for the uncertainty.

Model, per channel and week t: adstocked spend a_t = sum_l w_l x_{t-l} with w_l proportional to
decay^l over `ADSTOCK_WEEKS` lags, normalized to sum to 1 (so a steady weekly spend S has a = S,
and the steady-state curve does not depend on the decay); expected incremental orders
mu_t = scale * a_t^shape / (half_saturation^shape + a_t^shape); Gaussian noise. No intercept: the
outcome is already incremental (the incrementality-aware attribution's credit, calibrated by the
randomized holdouts where there are any), so no spend means no incremental orders.

Why not pymc-marketing: its MMM (NUTS over the same adstock + saturation model) is the reference
design, but sampling 8 channels x 52 weeks took minutes here (docs/budget.md has the measured
time), far over the 60 s the whole fit + plan may take. The MAP fit below takes milliseconds per
channel; weak priors (normal on the transformed parameters) keep a channel whose spend never
reached saturation identifiable, as the MMM's priors do.

Why Laplace: the posterior is approximated by a normal around the MAP in the unconstrained
parameters (covariance from the Jacobian of the weighted residuals); draws from it, mapped back,
give curve and forecast intervals at the cost of evaluating the curve, where a parametric
bootstrap would refit every channel hundreds of times. Intervals are of the expected incremental
outcome (parameter uncertainty), not of one week's noisy realization.

Revenue and acquisitions (first orders) scale the orders curve by the channel's incremental
revenue per incremental order and its incremental first-order share over the fitted weeks.

The audience: a week's incremental orders are the orders of the customers a channel reached,
so at the same spend they grow with the customer base (a marketplace that signs customers up
all year has three times the customers at its end in the simulator's default world). Where the
weekly inputs carry `customers` (the customers signed up by each week's end), each week's
outcomes are taken per customer and put at the current base (the mean of the last
`current_weeks` weeks) before the fit, so the curve is spend -> incremental orders at today's
audience. Without it, the base's growth reads as a response to the spend: on the 40,000-customer
fit world social's fitted marginal ROAS was 3.25 against a true 0.87, with it 0.98.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from scipy.optimize import least_squares
from scipy.special import expit

from dagster_project.lib.warehouse import has_table

# Carry-over lags kept (weeks): at the largest decay allowed, 0.8^12 = 7 % of a week's effect
# is left after 12 weeks.
ADSTOCK_WEEKS = 12
DECAY_MAX = 0.8
# Weak priors (mean, sd) on the unconstrained parameters: decay logit (0 -> decay 0.4), log of
# half-saturation / mean spend, log shape (1.5), log of scale / mean outcome (2: half saturation
# at the mean spend).
PRIORS = np.array([[0.0, 2.0], [0.0, 1.5], [np.log(1.5), 0.5], [np.log(2.0), 1.5]])
SHAPE_MIN = 0.5
# Channels with fewer weeks of spend than this are not fitted (four parameters need data).
MIN_WEEKS = 12
OUTCOMES = ("orders", "revenue", "acquisitions")
WEEKLY_COLUMNS = ("channel", "week_start", "spend", "orders", "revenue", "first_orders")
# Optional: the customers signed up by the week's end (the audience the outcomes scale with).
AUDIENCE = "customers"


class CurveInputError(ValueError):
    """Weekly inputs the curves cannot be fitted on (the message names the rule)."""


@dataclass(frozen=True)
class ChannelCurve:
    """One channel's fitted curve. theta: MAP of (decay logit, log half-saturation / spend_unit,
    log shape, log scale / outcome_unit); cov: its Laplace covariance."""

    channel: str
    theta: np.ndarray
    cov: np.ndarray
    spend_unit: float
    outcome_unit: float
    revenue_per_order: float
    first_share: float
    current_spend: float
    max_spend: float
    history: np.ndarray  # the last ADSTOCK_WEEKS weeks of spend, oldest first
    weeks: int
    r2: float
    # The whole weekly spend series fitted (oldest first): the truth check replays it.
    spend_series: np.ndarray | None = None

    def params(self, theta: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """decay, half_saturation (KRW per week), shape, scale (orders per week at saturation),
        for the MAP or for draws (rows of `theta`)."""
        t = np.atleast_2d(self.theta if theta is None else theta)
        return {
            "decay": DECAY_MAX * expit(t[:, 0]),
            "half_saturation": np.exp(t[:, 1]) * self.spend_unit,
            "shape": SHAPE_MIN + np.exp(t[:, 2]),
            "scale": np.exp(t[:, 3]) * self.outcome_unit,
        }

    def per_order(self, outcome: str) -> float:
        return {"orders": 1.0, "revenue": self.revenue_per_order, "acquisitions": self.first_share}[
            outcome
        ]

    def steady(self, spend: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        """Incremental orders per week at a steady weekly spend: (draws, len(spend))."""
        p = self.params(theta)
        return _hill(np.asarray(spend, dtype=np.float64)[None, :], p)

    def marginal(self, spend: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        """d(incremental orders per week) / d(weekly spend) at a steady spend: (draws, n)."""
        p = self.params(theta)
        s = np.maximum(np.asarray(spend, dtype=np.float64)[None, :], 1e-9)
        k, n = p["half_saturation"][:, None], p["shape"][:, None]
        ratio = (s / k) ** n
        return p["scale"][:, None] * n * ratio / (s * (1 + ratio) ** 2)

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.multivariate_normal(self.theta, self.cov, size=n, method="cholesky")


@dataclass
class ResponseCurves:
    curves: dict[str, ChannelCurve]
    last_week: object  # date of the last fitted week's Monday
    skipped: dict[str, str] = field(default_factory=dict)  # channel -> why not fitted
    # The current audience over the fitted weeks' mean one (1: no audience in the inputs): the
    # curves are at the current audience, a truth over the fitted window at the mean one.
    audience_growth: float = 1.0

    @property
    def channels(self) -> list[str]:
        return sorted(self.curves)


def _hill(adstocked: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    k, n = p["half_saturation"][:, None], p["shape"][:, None]
    ratio = (np.maximum(adstocked, 0.0) / k) ** n
    return p["scale"][:, None] * ratio / (1 + ratio)


def adstock(spend: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """Normalized geometric adstock of one spend series for each decay: (len(decay), T). The
    weeks before the series are taken at its first week's spend (steady state before the data)."""
    decay = np.atleast_1d(decay)
    padded = np.concatenate([np.full(ADSTOCK_WEEKS - 1, spend[0]), spend])
    windows = np.lib.stride_tricks.sliding_window_view(padded, ADSTOCK_WEEKS)[:, ::-1]
    w = decay[:, None] ** np.arange(ADSTOCK_WEEKS)[None, :]
    w /= w.sum(axis=1, keepdims=True)
    return w @ windows.T


def _residuals(theta, x, y, sigma, spend_unit, outcome_unit):
    decay = DECAY_MAX * expit(theta[0])
    p = {
        "half_saturation": np.array([np.exp(theta[1]) * spend_unit]),
        "shape": np.array([SHAPE_MIN + np.exp(theta[2])]),
        "scale": np.array([np.exp(theta[3]) * outcome_unit]),
    }
    mu = _hill(adstock(x, np.array([decay])), p)[0]
    prior = (theta - PRIORS[:, 0]) / PRIORS[:, 1]
    measured = np.isfinite(y)  # an unmeasured week's spend carries over; it has no residual
    return np.concatenate([(y[measured] - mu[measured]) / sigma, prior])


def fit_channel(
    channel: str, spend: np.ndarray, orders: np.ndarray, current_weeks: int = 13
) -> ChannelCurve:
    """MAP fit of one channel's weekly series (oldest week first), from a few starts. Weeks
    whose orders are NaN were not measured: their spend feeds the adstock, they add no
    residual."""
    spend = np.asarray(spend, dtype=np.float64)
    orders = np.asarray(orders, dtype=np.float64)
    measured = orders[np.isfinite(orders)]
    spend_unit = float(spend.mean())
    outcome_unit = max(float(measured.mean()), 1e-9)
    # First pass with a rough noise level, second with the first pass's residual spread.
    sigma = max(float(measured.std()), outcome_unit * 0.05, 1e-9)
    best = None
    for _ in range(2):
        fits = [
            least_squares(
                _residuals,
                np.array([u, 0.0, v, np.log(2.0)]),
                args=(spend, orders, sigma, spend_unit, outcome_unit),
                method="lm",
            )
            for u in (-2.0, 0.0, 2.0)
            for v in (np.log(0.5), np.log(1.5))
        ]
        best = min(fits, key=lambda f: f.cost)
        resid = best.fun[: measured.size] * sigma
        sigma = max(float(np.sqrt(np.mean(resid**2))), outcome_unit * 0.01)
    theta = best.x
    resid = _residuals(theta, spend, orders, sigma, spend_unit, outcome_unit)
    jac = _jacobian(theta, spend, orders, sigma, spend_unit, outcome_unit)
    cov = np.linalg.pinv(jac.T @ jac)
    fitted = measured - resid[: measured.size] * sigma
    ss_tot = float(((measured - measured.mean()) ** 2).sum())
    return ChannelCurve(
        channel=channel,
        theta=theta,
        cov=(cov + cov.T) / 2,
        spend_unit=spend_unit,
        outcome_unit=outcome_unit,
        revenue_per_order=0.0,
        first_share=0.0,
        current_spend=float(spend[-current_weeks:].mean()),
        max_spend=float(spend.max()),
        history=np.concatenate([np.full(ADSTOCK_WEEKS, spend[0]), spend])[-ADSTOCK_WEEKS:],
        weeks=int(spend.size),
        r2=1 - float(((measured - fitted) ** 2).sum()) / ss_tot if ss_tot > 0 else 0.0,
        spend_series=spend,
    )


def _jacobian(theta, *args, step: float = 1e-5) -> np.ndarray:
    """Central-difference Jacobian of the weighted residuals at the optimum (for the Laplace
    covariance, with the noise level of the final pass)."""
    cols = []
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = step
        cols.append((_residuals(theta + e, *args) - _residuals(theta - e, *args)) / (2 * step))
    return np.stack(cols, axis=1)


def validate_weekly(weekly: pl.DataFrame) -> pl.DataFrame:
    """The weekly inputs with every rule checked: required columns, one row per channel and
    week, no negative spend, and no missing values (an error names the first offending row)."""
    missing = [c for c in WEEKLY_COLUMNS if c not in weekly.columns]
    if missing:
        raise CurveInputError(f"weekly inputs: missing column(s) {', '.join(missing)}")
    columns = [*WEEKLY_COLUMNS, *([AUDIENCE] if AUDIENCE in weekly.columns else [])]
    weekly = weekly.select(columns).with_row_index("row")
    rules = {
        "spend, orders, revenue and first_orders are not null": pl.any_horizontal(
            pl.col("spend", "orders", "revenue", "first_orders").is_null()
        ),
        "spend is not negative": pl.col("spend") < 0,
        "one row per channel and week": pl.struct("channel", "week_start").is_duplicated(),
    }
    if AUDIENCE in columns:
        rules["customers is not negative"] = pl.col(AUDIENCE) < 0
    for rule, broken in rules.items():
        bad = weekly.filter(broken)
        if bad.height:
            r = bad.row(0, named=True)
            raise CurveInputError(
                f"weekly inputs row {r['row']} (channel {r['channel']}, week {r['week_start']}):"
                f" breaks the rule '{rule}' ({bad.height} row(s))"
            )
    return weekly.drop("row")


def fit_curves(weekly: pl.DataFrame, current_weeks: int = 13) -> ResponseCurves:
    """Per channel of `weekly` (channel, week_start, spend, orders, revenue, first_orders: the
    incremental outcomes), the fitted curve; weeks missing inside the span count as zero spend
    and zero incremental outcome, and NaN outcomes mark weeks that were not measured. Channels
    with fewer than MIN_WEEKS weeks of spend, or without any incremental order, are listed in
    `skipped`."""
    weekly = validate_weekly(weekly)
    if weekly.is_empty():
        raise CurveInputError("weekly inputs: no rows")
    weeks = pl.date_range(
        weekly["week_start"].min(), weekly["week_start"].max(), interval="1w", eager=True
    ).alias("week_start")
    weekly, growth = _at_current_audience(weekly, weeks, current_weeks)
    curves, skipped = {}, {}
    for channel in sorted(weekly["channel"].unique().to_list()):
        rows = (
            pl.DataFrame(weeks)
            .join(weekly.filter(pl.col("channel") == channel), on="week_start", how="left")
            .fill_null(0.0)
        )
        spend = rows["spend"].to_numpy()
        orders = rows["orders"].to_numpy()
        if int((spend > 0).sum()) < MIN_WEEKS:
            skipped[channel] = f"{int((spend > 0).sum())} week(s) with spend (< {MIN_WEEKS})"
            continue
        total = float(np.nansum(orders))
        if total <= 0:
            skipped[channel] = "no incremental orders credited"
            continue
        curve = fit_channel(channel, spend, orders, current_weeks)
        curves[channel] = ChannelCurve(
            **{
                **curve.__dict__,
                "revenue_per_order": float(rows["revenue"].fill_nan(0.0).sum()) / total,
                "first_share": float(rows["first_orders"].fill_nan(0.0).sum()) / total,
            }
        )
    return ResponseCurves(curves, weeks.max(), skipped, growth)


def _at_current_audience(
    weekly: pl.DataFrame, weeks: pl.Series, current_weeks: int
) -> tuple[pl.DataFrame, float]:
    """The outcomes per customer of the week's audience times the current audience (the mean of
    the last `current_weeks` weeks), and that audience over the mean of every week. A week
    without a known audience (null or 0) takes its neighbours'; without any (or no audience
    column) the outcomes are unchanged (growth 1)."""
    if AUDIENCE not in weekly.columns:
        return weekly, 1.0
    known = pl.when(pl.col(AUDIENCE) > 0).then(pl.col(AUDIENCE))
    audience = (
        pl.DataFrame(weeks)
        .join(weekly.group_by("week_start").agg(known.max()), on="week_start", how="left")
        .sort("week_start")
        .select(pl.col(AUDIENCE).forward_fill().backward_fill())
    )
    if audience[AUDIENCE].null_count() == audience.height:
        return weekly.drop(AUDIENCE), 1.0
    current = float(audience[AUDIENCE].tail(current_weeks).mean())
    per_week = pl.DataFrame(weeks).with_columns(audience[AUDIENCE])
    scaled = (
        weekly.drop(AUDIENCE)
        .join(per_week, on="week_start", how="left")
        .with_columns(
            pl.col(c) * current / pl.col(AUDIENCE) for c in ("orders", "revenue", "first_orders")
        )
        .drop(AUDIENCE)
    )
    return scaled, current / float(audience[AUDIENCE].mean())


def curve_table(
    rc: ResponseCurves,
    upper: dict[str, float] | None = None,
    points: int = 60,
    n_draws: int = 400,
    seed: int = 0,
    level: float = 0.9,
) -> pl.DataFrame:
    """Per channel and weekly spend on a grid from 0 to max(2 x the largest weekly spend seen,
    `upper`): MAP incremental orders and revenue per week, their `level` interval from the
    Laplace draws, and the marginal ROAS (incremental revenue per extra KRW)."""
    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    parts = []
    for ch in rc.channels:
        c = rc.curves[ch]
        top = max(2 * c.max_spend, (upper or {}).get(ch, 0.0))
        grid = np.linspace(0.0, top, points)
        sample = c.steady(grid, c.draws(n_draws, rng))
        mean = c.steady(grid)[0]
        parts.append(
            pl.DataFrame(
                {
                    "channel": ch,
                    "weekly_spend": grid,
                    "orders": mean,
                    "orders_low": np.quantile(sample, lo_q, axis=0),
                    "orders_high": np.quantile(sample, hi_q, axis=0),
                    "revenue": mean * c.revenue_per_order,
                    "revenue_low": np.quantile(sample, lo_q, axis=0) * c.revenue_per_order,
                    "revenue_high": np.quantile(sample, hi_q, axis=0) * c.revenue_per_order,
                    "marginal_roas": c.marginal(grid)[0] * c.revenue_per_order,
                }
            )
        )
    return pl.concat(parts)


def params_table(rc: ResponseCurves) -> pl.DataFrame:
    """One row per fitted channel: the MAP parameters with their Laplace standard errors (on the
    transformed scale), the fit's R^2, and the outcomes at the current spend."""
    rows = []
    for ch in rc.channels:
        c = rc.curves[ch]
        p = {k: float(v[0]) for k, v in c.params().items()}
        at_current = float(c.steady(np.array([c.current_spend]))[0, 0])
        rows.append(
            {
                "channel": ch,
                "weeks": c.weeks,
                "decay": p["decay"],
                "half_saturation_krw": p["half_saturation"],
                "shape": p["shape"],
                "scale_orders": p["scale"],
                "log_half_saturation_se": float(np.sqrt(c.cov[1, 1])),
                "r2": c.r2,
                "current_weekly_spend_krw": c.current_spend,
                "orders_at_current": at_current,
                "revenue_at_current_krw": at_current * c.revenue_per_order,
                "marginal_roas_at_current": float(
                    c.marginal(np.array([c.current_spend]))[0, 0] * c.revenue_per_order
                ),
                "revenue_per_order_krw": c.revenue_per_order,
                "first_order_share": c.first_share,
            }
        )
    return pl.DataFrame(rows)


def weekly_inputs(spend: pl.DataFrame, credit: pl.DataFrame) -> pl.DataFrame:
    """The fit's input from the warehouse frames: `spend` (channel, week_start, spend) and the
    weekly incremental measurement (week_start, channel, scope, conversions, revenue; scope all
    and first). Weeks are those with spend; a channel's week without a row inside the measured
    weeks has zero outcome, and weeks outside them (the measurement needs history before a day
    and a window after it, so its first and last weeks may be cut: `days_measured` < 7) have NaN
    outcomes: not measured, not zero."""
    outcome = (
        credit.group_by("channel", "week_start")
        .agg(
            orders=pl.col("conversions").filter(pl.col("scope") == "all").sum(),
            revenue=pl.col("revenue").filter(pl.col("scope") == "all").sum(),
            first_orders=pl.col("conversions").filter(pl.col("scope") == "first").sum(),
        )
        .with_columns(pl.col("channel").cast(pl.Utf8))
    )
    whole = credit.filter(pl.col("days_measured") == 7) if "days_measured" in credit else credit
    first, last = whole["week_start"].min(), whole["week_start"].max()
    measured = pl.col("week_start").is_between(first, last) if first is not None else pl.lit(False)
    return (
        spend.join(outcome, on=["channel", "week_start"], how="left")
        .with_columns(
            pl.when(measured).then(pl.col(c).fill_null(0.0)).otherwise(float("nan")).alias(c)
            for c in ("orders", "revenue", "first_orders")
        )
        .select(*WEEKLY_COLUMNS, *([AUDIENCE] if AUDIENCE in spend.columns else []))
        .sort("channel", "week_start")
    )


TRUTH_CURVES = Path("truth") / "response_curves.parquet"
TRUTH_PARAMS = Path("truth") / "channel_response_params.parquet"


def read_truth_curves(raw_dir: Path) -> pl.DataFrame | None:
    """A simulated world's planted curves (channel, weekly_spend, incremental_orders,
    incremental_revenue), if it has them."""
    path = Path(raw_dir) / TRUTH_CURVES
    return pl.read_parquet(path) if path.exists() else None


def params_against_truth(rc: ResponseCurves, raw_dir: Path) -> pl.DataFrame | None:
    """The fitted decay, half-saturation and shape next to a simulated world's planted
    parameters (every column of truth/channel_response_params.parquet, prefixed true_), if it
    has them."""
    path = Path(raw_dir) / TRUTH_PARAMS
    if not path.exists():
        return None
    truth = pl.read_parquet(path)
    truth = truth.rename({c: f"true_{c}" for c in truth.columns if c != "channel"})
    fitted = params_table(rc).select("channel", "decay", "half_saturation_krw", "shape")
    return fitted.join(truth, on="channel", how="left")


def _ranked(out: pl.DataFrame) -> pl.DataFrame:
    if out.is_empty():
        return out
    return out.with_columns(
        fitted_rank=pl.col("fitted_marginal_roas").rank("ordinal", descending=True),
        true_rank=pl.col("true_marginal_roas").rank("ordinal", descending=True),
    )


def replayed(c: ChannelCurve, scale: float) -> float:
    """The fitted curve's mean incremental orders per week over its own fitted spend series
    times `scale` (adstock and saturation week by week, as the data had it)."""
    p = c.params()
    a = adstock(c.spend_series * scale, p["decay"])
    return float(_hill(a, p)[0].mean())


def recovery_world(rc: ResponseCurves, truth: pl.DataFrame) -> pl.DataFrame:
    """Against a simulated world's truth/response_curves (incremental orders and revenue over
    the whole window with the channel's factual spend series x spend_scale, by re-simulation):
    per fitted channel, the fitted curve replayed on the same series (`replayed`) against the
    truth per week at scale 1 (the world's own spend), and the marginal ROAS of scaling the
    channel's spend there (truth: central difference over scales 0.5 and 1.5; fitted: the
    same scaling), with their ranks. Like with like: the truth's spend was flighted (weeks off,
    weeks high), so it is not the steady-spend curve at the mean spend."""
    rows = []
    for ch in rc.channels:
        t = truth.filter(pl.col("channel") == ch).sort("spend_scale")
        c = rc.curves[ch]
        if t.is_empty() or c.spend_series is None:
            continue
        at = {round(r["spend_scale"], 6): r for r in t.iter_rows(named=True)}
        if not {0.5, 1.0, 1.5} <= set(at):
            continue
        weeks = at[1.0]["total_spend"] / at[1.0]["weekly_spend"] if at[1.0]["weekly_spend"] else 0
        if weeks <= 0:
            continue
        mean_weekly = at[1.0]["weekly_spend"]
        true_orders = at[1.0]["incremental_orders"] / weeks
        true_mroas = (
            (at[1.5]["incremental_revenue"] - at[0.5]["incremental_revenue"]) / weeks / mean_weekly
        )
        # the truth is over the fitted window: its mean audience, not the current one
        at_mean = 1 / rc.audience_growth
        fitted = replayed(c, 1.0) * at_mean
        fitted_mroas = (
            (replayed(c, 1.5) - replayed(c, 0.5)) * c.revenue_per_order / mean_weekly * at_mean
        )
        rows.append(
            {
                "channel": ch,
                "current_weekly_spend_krw": mean_weekly,
                "fitted_orders": fitted,
                "true_orders": true_orders,
                "orders_error": fitted / true_orders - 1 if true_orders else float("nan"),
                "fitted_marginal_roas": fitted_mroas,
                "true_marginal_roas": true_mroas,
            }
        )
    return _ranked(pl.DataFrame(rows))


def recovery(rc: ResponseCurves, truth: pl.DataFrame) -> pl.DataFrame:
    """Per fitted channel: fitted and true incremental orders at the current weekly spend (the
    truth interpolated on its spend grid), their relative error, and the fitted and true marginal
    ROAS there with their ranks (1 = highest). A simulated world's truth (it has spend_scale:
    totals over its window) goes to `recovery_world`."""
    if "spend_scale" in truth.columns:
        return recovery_world(rc, truth)
    rows = []
    for ch in rc.channels:
        t = truth.filter(pl.col("channel") == ch).sort("weekly_spend")
        if t.is_empty():
            continue
        c = rc.curves[ch]
        s = c.current_spend
        x = t["weekly_spend"].to_numpy()
        true_orders = float(np.interp(s, x, t["incremental_orders"].to_numpy()))
        slope = np.gradient(t["incremental_revenue"].to_numpy(), x)
        fitted = float(c.steady(np.array([s]))[0, 0])
        rows.append(
            {
                "channel": ch,
                "current_weekly_spend_krw": s,
                "fitted_orders": fitted,
                "true_orders": true_orders,
                "orders_error": fitted / true_orders - 1 if true_orders else float("nan"),
                "fitted_marginal_roas": float(c.marginal(np.array([s]))[0, 0])
                * c.revenue_per_order,
                "true_marginal_roas": float(np.interp(s, x, slope)),
            }
        )
    return _ranked(pl.DataFrame(rows))


# Weekly spend per channel (Monday of the business week), for the channels that had any, with
# the customers signed up by the week's end (the audience, AUDIENCE).
SPEND_SQL = """
with weekly as (
    select channel, cast(date_trunc('week', activity_date) as date) as week_start,
        cast(sum(spend_krw) as double) as spend,
    from gold.fct_conversion_tracking
    group by channel, week_start
),
signups as (
    select signed_up_date, count(*) as signed_up
    from silver.int_customers__conformed
    group by signed_up_date
),
audience as (
    select w.week_start, cast(coalesce(sum(s.signed_up), 0) as double) as customers,
    from (select distinct week_start from weekly) as w
    left join signups as s on s.signed_up_date < w.week_start + 7
    group by w.week_start
)
-- from each channel's first week with spend: before it there was no such channel to plan
select weekly.*, audience.customers from weekly join audience using (week_start)
qualify week_start >= min(case when spend > 0 then week_start end) over (partition by channel)
order by channel, week_start
"""
# The paid channels' weekly incremental orders (gold/paid_exposure_lift: the exposure-level
# measurement, lib/attribution/exposure_lift.py), the same input as the lab check's fit.
WEEKLY_CREDIT_TABLE = "gold.paid_exposure_lift"


@dataclass
class WarehouseInputs:
    weekly: pl.DataFrame  # the fit's input (channels with spend and journeys)
    spend_channels: list[str]
    without_journeys: list[str]  # channels with spend but no touch in any journey
    reason: str | None  # why nothing can be fitted, or None


def spend_coverage(con) -> WarehouseInputs:
    """Weekly spend of the channels that have both spend and journeys (in `weekly`, without
    outcomes yet), and `reason` when there is none: no spend at all, or spend only for channels
    without journeys."""
    spend = con.sql(SPEND_SQL).pl()
    channels = sorted(spend["channel"].unique().to_list())
    journeys = set(
        con.sql(
            "select distinct channel from gold.fct_touchpoint_journeys where channel is not null"
        )
        .pl()["channel"]
        .to_list()
    )
    without = [ch for ch in channels if ch not in journeys]
    fit = spend.filter(pl.col("channel").is_in(sorted(journeys)))
    reason = None
    if not channels:
        reason = "no marketing spend in the data (e.g. an orders-only export)"
    elif fit.is_empty():
        reason = f"spend only for channels without journeys: {', '.join(without)}"
    return WarehouseInputs(fit, channels, without, reason)


def warehouse_inputs(con) -> WarehouseInputs:
    """Weekly spend (gold.fct_conversion_tracking) and weekly incremental orders (the paid
    channels' exposure-level measurement, gold.paid_exposure_lift) of every channel that has
    both spend and journeys; `reason` says why there is nothing to fit."""
    from dagster_project.lib.attribution.exposure_lift import WEEKLY_SCHEMA

    coverage = spend_coverage(con)
    credit = (
        con.sql(f"select * from {WEEKLY_CREDIT_TABLE}").pl()
        if has_table(con, WEEKLY_CREDIT_TABLE)
        else pl.DataFrame(schema=WEEKLY_SCHEMA)
    )
    weekly = weekly_inputs(coverage.weekly, credit)
    reason = coverage.reason
    if reason is None and credit.is_empty():
        reason = (
            f"no weekly incremental orders in {WEEKLY_CREDIT_TABLE} (materialize"
            " gold/paid_exposure_lift): the measurement needs paid impressions in the touches"
        )
    return WarehouseInputs(weekly, coverage.spend_channels, coverage.without_journeys, reason)


# Per campaign: the business weeks with spend and how much the spend varies across them.
CAMPAIGN_SPEND_SQL = """
with weekly as (
    select channel, campaign_id, cast(date_trunc('week', activity_date) as date) as week_start,
        cast(sum(spend_krw) as double) as spend,
    from gold.fct_conversion_tracking
    where campaign_id is not null
    group by channel, campaign_id, week_start
    having sum(spend_krw) > 0
)
select channel, campaign_id, count(*) as weeks_with_spend,
    coalesce(stddev_samp(spend) / avg(spend), 0.0) as spend_cv,
from weekly
group by channel, campaign_id
order by channel, campaign_id
"""
# A campaign's own curve needs as many weeks as a channel's, with spend that varies.
MIN_CAMPAIGN_CV = 0.2


def campaign_coverage(con, fitted_channels: list[str]) -> pl.DataFrame:
    """One row per campaign with spend: its weeks with spend, the variation of its weekly spend
    and the curve the plan uses for it. Campaign curves need MIN_WEEKS weeks of spend varying by
    at least MIN_CAMPAIGN_CV and weekly incremental orders per campaign; the weekly measurement
    (gold.paid_exposure_lift) is per channel, so today every campaign uses
    its channel's curve, and `curve` says why (or that the channel has no curve either)."""
    rows = con.sql(CAMPAIGN_SPEND_SQL).pl()
    enough = (pl.col("weeks_with_spend") >= MIN_WEEKS) & (pl.col("spend_cv") >= MIN_CAMPAIGN_CV)
    return rows.with_columns(
        curve=pl.when(~pl.col("channel").is_in(fitted_channels))
        .then(pl.lit("none: the channel has no curve"))
        .when(enough)
        .then(pl.lit("channel (enough weeks, but the weekly measurement is per channel)"))
        .otherwise(
            pl.format(
                "channel ({} week(s) with spend, spend cv {}; a campaign curve needs {} weeks"
                " varying by {})",
                "weeks_with_spend",
                pl.col("spend_cv").round(2),
                pl.lit(MIN_WEEKS),
                pl.lit(MIN_CAMPAIGN_CV),
            )
        )
    )
