"""The budget allocator: split a weekly budget across the fitted channels to maximize incremental
revenue (or profit, or acquisitions: CAC first), within per-channel bounds set by the team;
forecast the next period with an interval from the curves' uncertainty; and the scenarios a
team asks about (budget -20 %, +20 %, each channel switched off).

At the optimum of the revenue objective the marginal ROAS (incremental revenue of the next KRW)
is the same in every channel not held by a bound (the Lagrange condition); profit equalizes it
at 1 / gross margin unless the budget binds first; CAC-first equalizes the marginal cost per
acquired customer. The curves are S-shaped when the Hill shape is above 1, so the problem is not
convex: SLSQP is started from the current split, an even split and the solution of the
Lagrangian relaxation on a grid (each channel's best spend for a price of budget, with the price
bisected to meet the budget), and the best result is kept.

Bounds file (YAML, weekly KRW; every key optional):

    max_multiple_of_observed: 2.0   # default upper bound: 2 x the largest weekly spend seen
    channels:
      search_ads: {min_weekly_krw: 2000000, max_weekly_krw: 15000000}
      display: {max_weekly_krw: 0}  # switched off

Without a file every channel may go from 0 to `max_multiple_of_observed` x its largest weekly
spend in the data: beyond that the curve is an extrapolation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from scipy.optimize import minimize

from dagster_project.lib.budget.curves import ChannelCurve, ResponseCurves, adstock

OBJECTIVES = ("revenue", "profit", "cac")
DEFAULT_MAX_MULTIPLE = 2.0
DEFAULT_GROSS_MARGIN = 0.35
BOUND_KEYS = {"min_weekly_krw", "max_weekly_krw"}
TOP_KEYS = {"max_multiple_of_observed", "channels"}

Bounds = dict[str, tuple[float, float]]


class BudgetInputError(ValueError):
    """A budget, objective or bounds file the allocator cannot use (the message says why)."""


def default_bounds(rc: ResponseCurves, max_multiple: float = DEFAULT_MAX_MULTIPLE) -> Bounds:
    return {ch: (0.0, max_multiple * rc.curves[ch].max_spend) for ch in rc.channels}


def load_bounds(path: Path, rc: ResponseCurves) -> Bounds:
    """Per-channel weekly bounds from the YAML file at `path` (see the module docstring); an
    error names the file, the line and the rule broken."""
    path = Path(path)
    if not path.exists():
        raise BudgetInputError(f"{path}: bounds file not found")
    text = path.read_text()
    try:
        doc = yaml.safe_load(text) or {}
        node = yaml.compose(text)
    except yaml.YAMLError as err:
        raise BudgetInputError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(doc, dict):
        raise BudgetInputError(f"{path} line 1: expected a mapping with 'channels'")
    lines = _key_lines(node)

    def fail(key: str, rule: str):
        raise BudgetInputError(f"{path} line {lines.get(key, 1)}: {key}: {rule}")

    for key in doc:
        if key not in TOP_KEYS:
            fail(str(key), f"unknown key (expected {', '.join(sorted(TOP_KEYS))})")
    multiple = doc.get("max_multiple_of_observed", DEFAULT_MAX_MULTIPLE)
    if not isinstance(multiple, int | float) or multiple < 0:
        fail("max_multiple_of_observed", "must be a number >= 0")
    bounds = default_bounds(rc, float(multiple))
    channels = doc.get("channels") or {}
    if not isinstance(channels, dict):
        fail("channels", "must map channel names to their bounds")
    for ch, spec in channels.items():
        if ch not in bounds:
            fail(str(ch), f"unknown channel (channels with a fitted curve: {', '.join(bounds)})")
        if not isinstance(spec, dict) or set(spec) - BOUND_KEYS:
            fail(str(ch), f"expected a mapping with {' and/or '.join(sorted(BOUND_KEYS))}")
        low = spec.get("min_weekly_krw", 0.0)
        high = spec.get("max_weekly_krw", bounds[ch][1])
        for value in (low, high):
            if not isinstance(value, int | float) or value < 0:
                fail(str(ch), "bounds must be numbers >= 0 (KRW per week)")
        if low > high:
            fail(str(ch), f"min_weekly_krw {low:,.0f} is above max_weekly_krw {high:,.0f}")
        bounds[ch] = (float(low), float(high))
    return bounds


def _key_lines(node) -> dict[str, int]:
    """1-based line of every mapping key in the YAML document (top level and channels)."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines.setdefault(str(key.value), key.start_mark.line + 1)
            lines.update({k: v for k, v in _key_lines(value).items() if k not in lines})
    return lines


def _weights(rc: ResponseCurves, objective: str, margin: float) -> np.ndarray:
    """Objective value per incremental order, per channel."""
    per = {"revenue": "revenue", "profit": "revenue", "cac": "acquisitions"}[objective]
    w = np.array([rc.curves[ch].per_order(per) for ch in rc.channels])
    return w * margin if objective == "profit" else w


@dataclass
class Allocation:
    objective: str
    weekly_budget: float
    spend: dict[str, float]  # weekly KRW per channel
    value: float  # objective per week (KRW of revenue or profit, or acquisitions)
    marginal_roas: dict[str, float]  # incremental revenue per extra KRW at the spend
    marginal_cac: dict[str, float]  # KRW per extra incremental first order at the spend
    at_bound: dict[str, str]  # "min", "max" or ""


def objective_value(
    rc: ResponseCurves, spend: dict[str, float], objective: str, margin: float
) -> float:
    w = _weights(rc, objective, margin)
    x = np.array([spend.get(ch, 0.0) for ch in rc.channels])
    curves = [rc.curves[ch] for ch in rc.channels]
    value = float(
        sum(wi * c.steady(np.array([xi]))[0, 0] for wi, c, xi in zip(w, curves, x, strict=True))
    )
    return value - float(x.sum()) if objective == "profit" else value


def allocate(
    rc: ResponseCurves,
    weekly_budget: float,
    bounds: Bounds | None = None,
    objective: str = "revenue",
    margin: float = DEFAULT_GROSS_MARGIN,
) -> Allocation:
    """The weekly spend per channel that maximizes the objective: incremental revenue or
    acquisitions for exactly `weekly_budget`, or profit (margin x incremental revenue - spend)
    for at most `weekly_budget`."""
    if objective not in OBJECTIVES:
        raise BudgetInputError(f"objective {objective!r}: expected one of {', '.join(OBJECTIVES)}")
    if not np.isfinite(weekly_budget) or weekly_budget < 0:
        raise BudgetInputError(f"budget {weekly_budget:,.0f} KRW: must be a number >= 0")
    if not 0 < margin <= 1:
        raise BudgetInputError(f"gross margin {margin}: must be in (0, 1]")
    if not rc.curves:
        raise BudgetInputError("no channel has a fitted response curve")
    bounds = bounds or default_bounds(rc)
    lo = np.array([bounds[ch][0] for ch in rc.channels])
    hi = np.array([bounds[ch][1] for ch in rc.channels])
    exact = objective != "profit"
    if lo.sum() > weekly_budget * (1 + 1e-9) or (exact and hi.sum() < weekly_budget * (1 - 1e-9)):
        raise BudgetInputError(
            f"budget {weekly_budget:,.0f} KRW per week is outside the channels' bounds"
            f" (minimums add up to {lo.sum():,.0f}, maximums to {hi.sum():,.0f})"
        )
    w = _weights(rc, objective, margin)
    x = _solve(rc, w, lo, hi, weekly_budget, objective)
    spend = dict(zip(rc.channels, x.tolist(), strict=True))
    marginal = [
        float(rc.curves[ch].marginal(np.array([xi]))[0, 0]) * rc.curves[ch].revenue_per_order
        for ch, xi in zip(rc.channels, x, strict=True)
    ]
    tol = 1e-6 * max(weekly_budget, 1.0)
    return Allocation(
        objective=objective,
        weekly_budget=float(weekly_budget),
        spend=spend,
        value=objective_value(rc, spend, objective, margin),
        marginal_roas=dict(zip(rc.channels, marginal, strict=True)),
        marginal_cac={
            ch: _inverse(m / rc.curves[ch].revenue_per_order * rc.curves[ch].first_share)
            for ch, m in zip(rc.channels, marginal, strict=True)
        },
        at_bound={
            ch: "min" if xi <= low + tol else "max" if xi >= high - tol else ""
            for ch, xi, low, high in zip(rc.channels, x, lo, hi, strict=True)
        },
    )


class _Stacked:
    """The channels' MAP curves as arrays: objective value and gradient of a spend vector in one
    numpy expression (the solver calls them thousands of times)."""

    def __init__(self, rc: ResponseCurves, w: np.ndarray, objective: str):
        p = [rc.curves[ch].params() for ch in rc.channels]
        self.k = np.array([q["half_saturation"][0] for q in p])
        self.n = np.array([q["shape"][0] for q in p])
        self.a = w * np.array([q["scale"][0] for q in p])
        self.cost = 1.0 if objective == "profit" else 0.0

    def value(self, x: np.ndarray) -> float:
        r = (np.maximum(x, 0.0) / self.k) ** self.n
        return float((self.a * r / (1 + r)).sum() - self.cost * x.sum())

    def gradient(self, x: np.ndarray) -> np.ndarray:
        xs = np.maximum(x, 1e-9)
        r = (xs / self.k) ** self.n
        return self.a * self.n * r / (xs * (1 + r) ** 2) - self.cost


def _inverse(v: float) -> float | None:
    return 1.0 / v if v > 1e-12 else None


def _solve(rc, w, lo, hi, budget, objective) -> np.ndarray:
    if budget <= 0 or hi.sum() <= 0:
        return lo.copy()
    f = _Stacked(rc, w, objective)
    current = np.array([rc.curves[ch].current_spend for ch in rc.channels])
    starts = [
        _relaxation(f, lo, hi, budget),
        _fit_to_budget(current, lo, hi, budget),
        _fit_to_budget(np.ones_like(lo), lo, hi, budget),
    ]
    candidates = [
        _prune(f, _polish(f, x, lo, hi, budget, objective), lo, hi, budget, objective)
        for x in starts
    ]
    return max(candidates, key=f.value)


def _polish(f, x0, lo, hi, budget, objective, fixed=None) -> np.ndarray:
    """SLSQP from `x0` over the channels not `fixed` (those stay at their lower bound), on
    shares of the budget (well-conditioned whatever the currency)."""
    fixed = np.zeros(lo.size, dtype=bool) if fixed is None else fixed
    free = ~fixed
    base = np.where(fixed, lo, 0.0)
    unit = max(abs(f.value(x0)), 1.0)

    def full(s):
        return base + _scatter(s * budget, free, lo.size)

    rest = budget - base.sum()
    total = {
        "type": "ineq" if objective == "profit" else "eq",
        "fun": lambda s: rest / budget - s.sum(),
    }
    res = minimize(
        lambda s: -f.value(full(s)) / unit,
        x0[free] / budget,
        jac=lambda s: -f.gradient(full(s))[free] * budget / unit,
        bounds=list(zip(lo[free] / budget, hi[free] / budget, strict=True)),
        constraints=[total],
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 1000},
    )
    x = np.clip(full(res.x), lo, hi)
    if objective != "profit":
        return _fit_to_budget(x, lo, hi, budget)
    return x * min(1.0, budget / max(x.sum(), 1e-9))


def _scatter(values: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size)
    out[mask] = values
    return out


def _prune(f, x, lo, hi, budget, objective) -> np.ndarray:
    """S-shaped curves have a local optimum at a small spend with a small marginal return:
    move such channels (marginal below half the best interior one) to their lower bound one at
    a time and re-solve the rest, while that raises the objective."""
    fixed = np.zeros(lo.size, dtype=bool)
    for _ in range(lo.size):
        tol = 1e-6 * max(budget, 1.0)
        interior = (x > lo + tol) & (x < hi - tol) & ~fixed
        if interior.sum() < 2:
            return x
        g = f.gradient(x)
        worst = int(np.argmin(np.where(interior, g, np.inf)))
        if g[worst] >= 0.5 * g[interior].max():
            return x
        trial_fixed = fixed.copy()
        trial_fixed[worst] = True
        trial = _polish(f, x, lo, hi, budget, objective, trial_fixed)
        if f.value(trial) <= f.value(x):
            return x
        x, fixed = trial, trial_fixed
    return x


def _fit_to_budget(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: float) -> np.ndarray:
    """`x` scaled to add up to `budget` within the bounds (repeatedly: clipped channels keep
    their bound and the rest is rescaled)."""
    x = np.clip(np.asarray(x, dtype=np.float64), lo, hi)
    for _ in range(50):
        gap = budget - x.sum()
        if abs(gap) <= 1e-9 * max(budget, 1.0):
            break
        free = (x < hi) if gap > 0 else (x > lo)
        if not free.any():
            break
        base = np.where(free, np.maximum(x, 1e-9 * budget), 0.0)
        x = np.clip(x + gap * base / base.sum(), lo, hi)
    return x


def _relaxation(f: _Stacked, lo, hi, budget, points: int = 2001) -> np.ndarray:
    """Each channel's best spend on a grid for a price per KRW, the price bisected so that the
    spends meet the budget: exact for the non-convex curves channel by channel."""
    grid = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, points)[None, :]
    r = (grid / f.k[:, None]) ** f.n[:, None]
    values = f.a[:, None] * r / (1 + r) - f.cost * grid
    rows = np.arange(lo.size)

    def spends(price: float) -> np.ndarray:
        return grid[rows, np.argmax(values - price * grid, axis=1)]

    low, high = 0.0, 1.0
    while spends(high).sum() > budget and high < 1e12:
        high *= 2
    if spends(low).sum() <= budget:
        return _fit_to_budget(spends(low), lo, hi, budget)
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if spends(mid).sum() > budget else (low, mid)
    return _fit_to_budget(spends(high), lo, hi, budget)


def proportional_split(weights: dict[str, float], weekly_budget: float) -> dict[str, float]:
    """The budget split in proportion to `weights` (e.g. each channel's last-click ROAS)."""
    total = sum(max(v, 0.0) for v in weights.values())
    if total <= 0:
        raise BudgetInputError("proportional split: every weight is zero")
    return {ch: weekly_budget * max(v, 0.0) / total for ch, v in weights.items()}


def current_split(rc: ResponseCurves, weekly_budget: float) -> dict[str, float]:
    """Today's shares (each channel's current weekly spend) applied to `weekly_budget`."""
    return proportional_split({ch: c.current_spend for ch, c in rc.curves.items()}, weekly_budget)


def next_monday(last_week: date) -> date:
    return last_week + timedelta(days=7 - last_week.weekday())


def plan_frame(spend: dict[str, float], start: date, weeks: int) -> pl.DataFrame:
    """The spend plan in the lab's format: channel, week_start, spend (KRW per week)."""
    return pl.DataFrame(
        {
            "channel": [ch for ch in spend for _ in range(weeks)],
            "week_start": [start + timedelta(weeks=k) for _ in spend for k in range(weeks)],
            "spend": [float(spend[ch]) for ch in spend for _ in range(weeks)],
        },
        schema={"channel": pl.Utf8, "week_start": pl.Date, "spend": pl.Float64},
    )


def _channel_forecast(c: ChannelCurve, weekly: float, weeks: int, theta: np.ndarray) -> np.ndarray:
    """Incremental orders over the next `weeks` at `weekly` spend, per parameter row of
    `theta`: the adstock carries the last weeks of actual spend into the period."""
    series = np.concatenate([c.history, np.full(weeks, weekly)])
    p = c.params(theta)
    a = adstock(series, p["decay"])[:, -weeks:]
    k, n = p["half_saturation"][:, None], p["shape"][:, None]
    ratio = (a / k) ** n
    return (p["scale"][:, None] * ratio / (1 + ratio)).sum(axis=1)


def forecast(
    rc: ResponseCurves,
    spend: dict[str, float],
    weeks: int,
    n_draws: int = 400,
    seed: int = 0,
    level: float = 0.9,
    margin: float = DEFAULT_GROSS_MARGIN,
) -> pl.DataFrame:
    """Incremental orders, revenue, acquisitions and profit over the next `weeks` weeks at the
    weekly `spend`, per channel and in total: the MAP forecast and its `level` interval from
    the curves' Laplace draws (channels independent, the same draws for every plan)."""
    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    rows, total = [], {k: np.zeros(n_draws) for k in ("orders", "revenue", "acquisitions")}
    map_total = dict.fromkeys(total, 0.0)
    for ch in rc.channels:
        c = rc.curves[ch]
        draws = c.draws(n_draws, rng)  # drawn for every channel, so plans share draws
        x = spend.get(ch, 0.0)
        sample = _channel_forecast(c, x, weeks, draws)
        point = float(_channel_forecast(c, x, weeks, c.theta[None, :])[0])
        row = {"channel": ch, "weekly_spend_krw": x, "spend_krw": x * weeks}
        for name in total:
            per = c.per_order(name)
            total[name] += sample * per
            map_total[name] += point * per
            row |= _interval(name, point * per, sample * per, lo_q, hi_q)
        rows.append(row)
    spent = sum(spend.get(ch, 0.0) for ch in rc.channels) * weeks
    row = {"channel": "total", "weekly_spend_krw": spent / weeks, "spend_krw": spent}
    for name in total:
        row |= _interval(name, map_total[name], total[name], lo_q, hi_q)
    rows.append(row)
    out = pl.DataFrame(rows)
    return out.with_columns(
        profit_krw=pl.col("revenue_krw") * margin - pl.col("spend_krw"),
        roas=pl.when(pl.col("spend_krw") > 0).then(pl.col("revenue_krw") / pl.col("spend_krw")),
    )


def _interval(name: str, point: float, sample: np.ndarray, lo_q: float, hi_q: float) -> dict:
    key = f"{name}_krw" if name == "revenue" else name
    return {
        key: point,
        f"{key}_low": float(np.quantile(sample, lo_q)),
        f"{key}_high": float(np.quantile(sample, hi_q)),
    }


@dataclass
class BudgetPlan:
    allocation: Allocation
    plan: pl.DataFrame  # channel, week_start, spend
    table: pl.DataFrame  # per channel: current and recommended spend, forecast, marginal ROAS
    scenarios: pl.DataFrame  # per scenario: budget, spend, forecast with intervals


def plan_budget(
    rc: ResponseCurves,
    budget: float,
    weeks: int = 4,
    bounds: Bounds | None = None,
    objective: str = "revenue",
    margin: float = DEFAULT_GROSS_MARGIN,
    extra_splits: dict[str, dict[str, float]] | None = None,
    seed: int = 0,
) -> BudgetPlan:
    """The plan for `budget` KRW over the next `weeks` weeks (spread evenly over the weeks), its
    forecast, and the scenarios: the current split at the same budget, budget -20 % and +20 %,
    each channel switched off (its budget re-planned over the rest), and any `extra_splits`
    (name -> weekly spend per channel, e.g. a last-click-ROAS split)."""
    if weeks < 1:
        raise BudgetInputError(f"weeks {weeks}: must be at least 1")
    if not np.isfinite(budget) or budget < 0:
        raise BudgetInputError(f"budget {budget:,.0f} KRW: must be a number >= 0")
    bounds = bounds or default_bounds(rc)
    weekly = budget / weeks
    best = allocate(rc, weekly, bounds, objective, margin)
    start = next_monday(rc.last_week)

    def fc(spend: dict[str, float]) -> pl.DataFrame:
        return forecast(rc, spend, weeks, seed=seed, margin=margin)

    rec = fc(best.spend)
    current = {ch: c.current_spend for ch, c in rc.curves.items()}
    table = (
        pl.DataFrame(
            {
                "channel": rc.channels,
                "current_weekly_krw": [current[ch] for ch in rc.channels],
                "recommended_weekly_krw": [best.spend[ch] for ch in rc.channels],
                "marginal_roas": [best.marginal_roas[ch] for ch in rc.channels],
                "marginal_cac_krw": [best.marginal_cac[ch] for ch in rc.channels],
                "bound": [best.at_bound[ch] for ch in rc.channels],
            }
        )
        .with_columns(
            change=pl.when(pl.col("current_weekly_krw") > 0).then(
                pl.col("recommended_weekly_krw") / pl.col("current_weekly_krw") - 1
            )
        )
        .join(rec.drop("weekly_spend_krw"), on="channel", how="left")
    )
    splits: dict[str, dict[str, float]] = {
        "recommended": best.spend,
        "current split": current_split(rc, weekly),
    }
    for name, factor in (("budget -20%", 0.8), ("budget +20%", 1.2)):
        splits[name] = _allocate_within(rc, weekly * factor, bounds, objective, margin)
    for ch in rc.channels:
        off = {**bounds, ch: (0.0, 0.0)}
        splits[f"without {ch}"] = _allocate_within(rc, weekly, off, objective, margin)
    splits |= extra_splits or {}
    scenarios = pl.concat(
        [
            fc(spend)
            .filter(pl.col("channel") == "total")
            .drop("channel")
            .select(pl.lit(name).alias("scenario"), pl.all())
            for name, spend in splits.items()
        ]
    )
    return BudgetPlan(best, plan_frame(best.spend, start, weeks), table, scenarios)


def _allocate_within(rc, weekly, bounds, objective, margin) -> dict[str, float]:
    """The allocation of `weekly` or, when the bounds cannot take all of it (a channel
    switched off), of as much as they can."""
    room = sum(h for _, h in bounds.values())
    return allocate(rc, min(weekly, room), bounds, objective, margin).spend
