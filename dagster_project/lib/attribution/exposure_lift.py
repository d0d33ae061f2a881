"""Paid channels' incremental orders from the exposure log's natural experiment.

An ad platform serves a channel's impression to a customer-day with a probability set by its
targeting (search follows searches and visits, retargeting recent viewers ...) and by how much
budget the day has: given what the platform can see of the customer before the day, whether
the impression is served is chance. So the orders an exposed customer-day makes in the next
`window_days`, minus the orders such a customer-day makes without the channel's impression, is
the exposure's effect, including what follows from it (a visit that leads to a retargeting
impression ...).

Per paid channel: an outcome model (LightGBM, Poisson) is fitted on customer-days *not*
exposed to the channel (pre-day features only: recency of visits, views, carts and orders,
their counts over the last 1-28 days, the paid exposures of the days before, signup age, birth
year, the day), cross-fitted over two halves of the customers; each exposed customer-day's
residual (its orders in the window minus the model's prediction) is its incremental orders;
their sum is the channel's, with a standard error clustered by customer. By week (the response
curves' input): the channel's relative lift (the residuals' sum over the predictions' sum) times
the predictions of the week's exposed customer-days, so a week's figure follows its exposures
(which follow the spend) without a week's own noise.

Unlike the incrementality-aware attribution (one model of conversion odds with every channel's
exposures as features, which shrinks small per-exposure lifts towards zero), the channel's
exposure is not a feature the model can ignore: the model never sees exposed rows of the
channel, so there is nothing to shrink. What it cannot see (a shopping episode that makes a
customer search more, a trait that makes social reach them) stays a bias; docs/budget.md has
the measured figures and the power at each size.

Where the data has a randomized lift study of a channel (lift_study_assignments, and the
holdout's ghost impressions), the study's intent-to-treat estimate over its test group and days
sets the channel's level (`_study_calibration`): the observational figure is scaled to it,
with the study's standard error. Above `MAX_PANEL_CUSTOMERS` the panel is a seeded sample of
the customers, its sums scaled back to the population (`Panel.scale`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import polars as pl

from dagster_project.lib.attribution.weekly import WEEKLY_SCHEMA as CREDIT_SCHEMA

HISTORY_DAYS = 28  # a customer-day needs this much history before it to have its features
NEVER = 400  # days since an event that never happened


@dataclass
class Study:
    """A randomized lift study of a paid channel on the panel's customers."""

    channel: str
    holdout: np.ndarray  # (N,) bool: held out of the channel during the study
    test: np.ndarray  # (N,) bool: in the study's test group (served as usual)
    first: int  # first and last day index of the study (inclusive)
    last: int


@dataclass
class Panel:
    """Dense customer x day arrays of the platform's own logs (day 0 = `first_day`)."""

    first_day: date
    signup: np.ndarray  # (N,) day index of the sign-up
    birth_year: np.ndarray  # (N,) float, nan if unknown
    visits: np.ndarray  # (N, D) sessions
    views: np.ndarray  # (N, D) product views
    carts: np.ndarray  # (N, D) add-to-carts
    orders: np.ndarray  # (N, D) orders
    first_orders: np.ndarray  # (N, D) first orders
    revenue: np.ndarray  # (N, D) order revenue, KRW
    exposures: dict[str, np.ndarray]  # channel -> (N, D) bool, an impression that day
    # channel -> (N, D) bool: a lift study's ghost impression that day (a held-out customer's
    # would-be impression; lift_study_ghost_impressions), for the channels with a study
    ghosts: dict[str, np.ndarray] = field(default_factory=dict)
    # customers in the population per customer of the panel (> 1: a sample of the customers)
    scale: float = 1.0
    # randomized lift studies (lift_study_assignments), one per entry
    studies: list[Study] = field(default_factory=list)

    @property
    def days(self) -> int:
        return self.visits.shape[1]


PANEL_SQL = {
    "visits": "select customer_id, session_date as day, count(*) as n"
    " from silver.int_sessions__attributed group by all",
    "views": "select customer_id, event_date as day, count(*) as n"
    " from silver.int_events__cleaned where event_type = 'view' group by all",
    "carts": "select customer_id, event_date as day, count(*) as n"
    " from silver.int_events__cleaned where event_type = 'add_to_cart' group by all",
    "orders": "select customer_id, order_date as day, count(*) as n,"
    " sum(cast(is_first_order as int)) as first, sum(order_amount_krw) as revenue"
    " from silver.int_orders__enriched group by all",
    "exposures": "select distinct customer_id, touch_date as day, channel"
    " from silver.int_touches__conformed where touch_type = 'impression' and is_paid_channel",
}
GHOSTS_SQL = (
    "select distinct customer_id, ghost_date as day, channel"
    " from silver.int_lift_study_ghosts__daily where channel is not null"
)
STUDIES_SQL = (
    "select study_id, channel, customer_id, study_group, start_date as day, end_date"
    " from silver.int_lift_studies__assignments"
)
# Above this many customers the panel is a sample of them (the dense arrays are ~20 x N x D
# bytes; 100,000 x 365 days is about 2.5 GB with the features).
MAX_PANEL_CUSTOMERS = 100_000


def sample_index(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of `size` of `n` customers, drawn without replacement (seeded)."""
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def sample_panel(panel: Panel, size: int, seed: int = 0) -> Panel:
    """The panel of a random `size` of its customers, its `scale` raised so that sums over the
    sample estimate the population's (what panel_from_warehouse does above its limit)."""
    n = panel.visits.shape[0]
    if size >= n:
        return panel
    keep = sample_index(n, size, seed)
    cut = {
        k: getattr(panel, k)[keep]
        for k in ("signup", "birth_year", "visits", "views", "carts", "orders", "first_orders")
    }
    return replace(
        panel,
        **cut,
        revenue=panel.revenue[keep],
        exposures={ch: e[keep] for ch, e in panel.exposures.items()},
        ghosts={ch: g[keep] for ch, g in panel.ghosts.items()},
        studies=[replace(st, holdout=st.holdout[keep], test=st.test[keep]) for st in panel.studies],
        scale=panel.scale * n / size,
    )


def panel_from_warehouse(con, max_customers: int = MAX_PANEL_CUSTOMERS, seed: int = 0) -> Panel:
    """The panel from a built warehouse: sessions, product views and carts, orders, and paid
    impressions by customer and business date; customers from gold.dim_customers; the lift
    studies' ghost impressions where the warehouse has them. Above `max_customers` customers,
    a seeded random sample of them (Panel.scale says how many each stands for)."""
    from dagster_project.lib.warehouse import has_table

    cust = con.sql(
        "select customer_id, signed_up_date, birth_year from gold.dim_customers order by 1"
    ).pl()
    scale = 1.0
    if cust.height > max_customers:
        scale = cust.height / max_customers
        cust = cust[sample_index(cust.height, max_customers, seed)]
    queries = dict(PANEL_SQL)
    if has_table(con, "silver.int_lift_study_ghosts__daily"):
        queries["ghosts"] = GHOSTS_SQL
    if has_table(con, "silver.int_lift_studies__assignments"):
        queries["studies"] = STUDIES_SQL
    frames = {k: con.sql(q).pl() for k, q in queries.items()}
    first = min(f["day"].min() for f in frames.values() if f.height)
    last = max(f["day"].max() for f in frames.values() if f.height)
    n, d = cust.height, (last - first).days + 1
    index = {c: k for k, c in enumerate(cust["customer_id"].to_list())}

    def where(f: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        i = f["customer_id"].replace_strict(index, default=-1, return_dtype=pl.Int64).to_numpy()
        day = f.select((pl.col("day") - pl.lit(first)).dt.total_days())["day"].to_numpy()
        return i, day

    def dense(f: pl.DataFrame, col: str = "n", dtype=np.int16) -> np.ndarray:
        out = np.zeros((n, d), dtype=dtype)
        i, day = where(f)
        ok = i >= 0
        np.add.at(out, (i[ok], day[ok]), f[col].to_numpy()[ok].astype(dtype))
        return out

    expo = frames["exposures"]
    exposures = {}
    for ch in sorted(expo["channel"].unique().to_list()):
        exposures[ch] = dense(expo.filter(pl.col("channel") == ch).with_columns(n=1)) > 0
    studies = []
    if "studies" in frames:
        a = frames["studies"]
        for (_study_id, ch), rows in sorted(
            a.group_by("study_id", "channel"), key=lambda kv: str(kv[0])
        ):
            i, day = where(rows)
            ok = i >= 0
            end = rows.select((pl.col("end_date") - pl.lit(first)).dt.total_days())
            holdout, test = np.zeros(n, bool), np.zeros(n, bool)
            group = rows["study_group"].to_numpy()
            holdout[i[ok & (group == "holdout")]] = True
            test[i[ok & (group == "test")]] = True
            studies.append(Study(ch, holdout, test, int(day.min()), int(end.to_series().max())))
    ghosts = {}
    if "ghosts" in frames:
        g = frames["ghosts"]
        for ch in sorted(g["channel"].unique().to_list()):
            ghosts[ch] = dense(g.filter(pl.col("channel") == ch).with_columns(n=1)) > 0
    signup = cust.select(
        (pl.col("signed_up_date").fill_null(first) - pl.lit(first)).dt.total_days()
    )
    return Panel(
        first_day=first,
        signup=signup.to_series().to_numpy(),
        birth_year=cust["birth_year"].cast(pl.Float64).to_numpy(),
        visits=dense(frames["visits"]),
        views=dense(frames["views"]),
        carts=dense(frames["carts"]),
        orders=dense(frames["orders"]),
        first_orders=dense(frames["orders"], "first"),
        revenue=dense(frames["orders"], "revenue", np.float64),
        exposures=exposures,
        ghosts=ghosts,
        scale=scale,
        studies=studies,
    )


def _cumsum(a: np.ndarray) -> np.ndarray:
    """(N, D + 1) running sums over days: window sums of days [a, b) are c[:, b] - c[:, a]."""
    return np.pad(np.cumsum(a, axis=1, dtype=np.float64), ((0, 0), (1, 0)))


def _last_before(a: np.ndarray) -> np.ndarray:
    """(N, D) the last day before each day with a > 0 (-NEVER if none)."""
    days = np.where(a > 0, np.arange(a.shape[1])[None, :], -NEVER)
    last = np.maximum.accumulate(days, axis=1)
    return np.pad(last, ((0, 0), (1, 0)), constant_values=-NEVER)[:, :-1]


class _Features:
    """Pre-day features of customer-days (i, d): nothing from day d itself."""

    def __init__(self, p: Panel):
        self.p = p
        self.sums = {k: _cumsum(getattr(p, k)) for k in ("visits", "views", "carts", "orders")}
        # A channel's impressions of the days before; with a lift study its would-be ones
        # (served or ghost), so a held-out customer's history reads like a served one's.
        self.expo = {
            ch: _cumsum(e | p.ghosts[ch] if ch in p.ghosts else e) for ch, e in p.exposures.items()
        }
        self.last = {k: _last_before(getattr(p, k)) for k in ("visits", "views", "carts", "orders")}

    def __call__(self, i: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, list[str]]:
        cols, names = [], []

        def add(name: str, values: np.ndarray) -> None:
            names.append(name)
            cols.append(values.astype(np.float32))

        for k, c in self.sums.items():
            for w in (1, 3, 7, 28):
                add(f"{k}_{w}d", c[i, d] - c[i, np.maximum(d - w, 0)])
            add(f"days_since_{k}", np.minimum(d - self.last[k][i, d], NEVER))
        add("orders_before", self.sums["orders"][i, d])
        for ch, c in self.expo.items():
            add(f"{ch}_1d", c[i, d] - c[i, np.maximum(d - 1, 0)])
            add(f"{ch}_7d", c[i, d] - c[i, np.maximum(d - 7, 0)])
        add("days_since_signup", d - self.p.signup[i])
        add("birth_year", self.p.birth_year[i])
        add("day", d)
        add("weekday", d % 7)
        return np.column_stack(cols), names


# the summary's lift-study columns: null for a channel without a study
STUDY_COLUMNS = {
    "study_itt_orders": pl.Float64,
    "study_itt_se": pl.Float64,
    "study_observational_orders": pl.Float64,
    "study_customers": pl.Int64,
}

# The attribution's weekly credit (the curves' other input), with the measurement's errors.
WEEKLY_SCHEMA = {
    **CREDIT_SCHEMA,
    "conversions_se": pl.Float64,
    "revenue_se": pl.Float64,
    "days_measured": pl.Int64,  # of the week's 7 (the first and last weeks may be cut)
}


@dataclass
class ExposureLift:
    summary: pl.DataFrame  # per channel: exposures, incremental orders, se, interval
    # week_start, channel, scope (all/first), conversions, revenue and their standard errors
    weekly: pl.DataFrame


def _fit_predict(x_fit, y_fit, w_fit, x_pred, seed: int) -> np.ndarray:
    import lightgbm as lgb

    model = lgb.LGBMRegressor(
        objective="poisson",
        n_estimators=300,
        learning_rate=0.05,
        num_leaves=31,
        min_child_samples=200,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        # One thread, as every model here: on a shared 2-core machine two OpenMP threads spin
        # against each other (5-6x slower under load, same bits: deterministic + row-wise).
        n_jobs=1,
        deterministic=True,
        force_row_wise=True,
        verbose=-1,
    )
    model.fit(x_fit, y_fit, sample_weight=w_fit)
    return model.predict(x_pred)


def exposure_lift(
    panel: Panel,
    window_days: int = 7,
    control_rows: int = 600_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> ExposureLift:
    """Per paid channel of the panel: incremental orders of its exposures (module docstring).
    `control_rows`: how many unexposed customer-days the outcome models learn from (sampled,
    recently active ones first, with weights that undo the sampling)."""
    from scipy.stats import norm

    p, n, days = panel, panel.visits.shape[0], panel.days
    rng = np.random.default_rng(seed)
    feats = _Features(p)
    y_sum, rev_sum, first_sum = _cumsum(p.orders), _cumsum(p.revenue), _cumsum(p.first_orders)
    lo, hi = HISTORY_DAYS, days - window_days  # customer-days with full history and window
    signed = np.arange(days)[None, :] > p.signup[:, None]
    valid = signed.copy()
    valid[:, :lo] = False
    valid[:, hi + 1 :] = False
    # Controls: every recently active customer-day is as likely to be drawn as any other
    # recently active one; the quiet ones (no visit in 7 days) are rarer and weigh more.
    c = feats.sums["visits"]
    active7 = (c[:, :-1] - c[:, np.maximum(np.arange(days) - 7, 0)]) > 0
    n_active, n_quiet = int((valid & active7).sum()), int((valid & ~active7).sum())
    q_active = min(1.0, control_rows * 0.7 / max(n_active, 1))
    q_quiet = min(1.0, control_rows * 0.3 / max(n_quiet, 1))
    u = rng.random((n, days), dtype=np.float32)
    take = valid & (u < np.where(active7, q_active, q_quiet))
    ci, cd = np.nonzero(take)
    cw = np.where(active7[ci, cd], 1 / q_active, 1 / q_quiet)
    fold = rng.random(n) < 0.5  # cross-fitting by customer
    xc, _ = feats(ci, cd)
    yc = y_sum[ci, cd + window_days] - y_sum[ci, cd]
    start = p.first_day
    first_day, last_day = start + timedelta(days=lo), start + timedelta(days=hi)
    rows, weekly = [], []
    z = norm.ppf((1 + confidence) / 2)
    for ch, expo in sorted(p.exposures.items()):
        ei, ed = np.nonzero(expo & valid)
        if ei.size == 0:
            continue
        ghost = p.ghosts.get(ch)
        # a ghost day is a would-be exposure: not a control of the outcome model
        ctrl = ~expo[ci, cd] if ghost is None else ~(expo[ci, cd] | ghost[ci, cd])
        xe, _ = feats(ei, ed)
        ye = y_sum[ei, ed + window_days] - y_sum[ei, ed]
        own = feats.expo[ch]
        induced_c = own[ci, cd + window_days] - own[ci, cd + 1]
        induced_e = own[ei, ed + window_days] - own[ei, ed + 1]
        pred, pred_induced = np.zeros(ei.size), np.zeros(ei.size)
        for f in (False, True):
            fit = ctrl & (fold[ci] == f)
            target = fold[ei] != f
            pred[target] = _fit_predict(xc[fit], yc[fit], cw[fit], xe[target], seed)
            pred_induced[target] = _fit_predict(xc[fit], induced_c[fit], cw[fit], xe[target], seed)
        # An exposure that brings the customer back brings the channel's own targeting back
        # too (search follows visits): its window then holds the induced exposures' effects,
        # which are counted again as their own. With m induced exposures per exposure, the
        # channel's incremental orders are the windows' sum x (1 - m).
        induced = float(np.mean(induced_e - pred_induced))
        resid = (ye - pred) * (1 - induced)
        total = float(resid.sum())
        per_customer = np.bincount(ei, resid, minlength=n)
        count = np.bincount(ei, minlength=n)
        se = float(np.sqrt(((per_customer - count * resid.mean()) ** 2).sum()))
        observational = total
        cal = _study_calibration(p, ch, ei, ed, resid, window_days, hi)
        if cal is not None:
            # The study's level: the observational figure scaled so that, over the study's
            # test group and days, it equals the randomized (intent-to-treat) estimate.
            factor = cal["itt"] / cal["observational"]
            se = abs(total / cal["observational"]) * cal["itt_se"]
            total *= factor
        # sums over a sample of customers stand for the population's
        total, se, observational = total * p.scale, se * p.scale, observational * p.scale
        # revenue and first orders of the incremental orders: as the exposed customer-days'
        # window orders have them
        rev = rev_sum[ei, ed + window_days] - rev_sum[ei, ed]
        first = first_sum[ei, ed + window_days] - first_sum[ei, ed]
        aov = float(rev.sum() / max(ye.sum(), 1))
        first_share = float(first.sum() / max(ye.sum(), 1))
        rows.append(
            {
                "channel": ch,
                "exposures": int(round(ei.size * p.scale)),
                "induced_exposures": induced,
                "incremental_orders": total,
                "se": se,
                "low": total - z * se,
                "high": total + z * se,
                "revenue_per_order": aov,
                "first_order_share": first_share,
                "customers_measured": int(n),
                "observational_orders": observational,
                # the lift study's randomized estimate over its test group and days, and the
                # observational figure over the same exposures (null without a study)
                "study_itt_orders": None if cal is None else cal["itt"] * p.scale,
                "study_itt_se": None if cal is None else cal["itt_se"] * p.scale,
                "study_observational_orders": None
                if cal is None
                else cal["observational"] * p.scale,
                "study_customers": None if cal is None else cal["customers"],
            }
        )
        pred = pred * p.scale
        # By week: the channel's lift over what its exposed customer-days would have bought
        # anyway (total / sum of predictions), times that week's predictions. A week's own
        # residuals would say the same on average, but their noise (the se of a whole year,
        # spread over 52 weeks) would hide how the exposures follow the spend.
        # The week's standard error is the lift's (se / sum of predictions) times the week's
        # predictions: one draw of the lift, so the weeks' errors move together.
        pred_sum = max(float(pred.sum()), 1e-12)
        week = pl.DataFrame(
            {"d": ed, "orders": pred * (total / pred_sum), "se": pred * (se / pred_sum)}
        ).with_columns(week_start=(pl.lit(start) + pl.duration(days=pl.col("d"))).dt.truncate("1w"))
        # days_measured < 7: a week cut by the measured days' edges (its figure covers part of it)
        per_week = (
            week.group_by("week_start")
            .agg(conversions=pl.col("orders").sum(), conversions_se=pl.col("se").sum())
            .with_columns(
                days_measured=(
                    pl.min_horizontal(pl.col("week_start") + pl.duration(days=6), pl.lit(last_day))
                    - pl.max_horizontal(pl.col("week_start"), pl.lit(first_day))
                ).dt.total_days()
                + 1
            )
        )
        for scope, share in (("all", 1.0), ("first", first_share)):
            weekly.append(
                per_week.with_columns(
                    channel=pl.lit(ch),
                    scope=pl.lit(scope),
                    conversions=pl.col("conversions") * share,
                    conversions_se=pl.col("conversions_se") * share,
                ).with_columns(
                    revenue=pl.col("conversions") * aov,
                    revenue_se=pl.col("conversions_se") * aov,
                )
            )
    if not rows:
        return ExposureLift(pl.DataFrame(), pl.DataFrame(schema=WEEKLY_SCHEMA))
    return ExposureLift(
        pl.DataFrame(rows, schema_overrides=STUDY_COLUMNS, infer_schema_length=None),
        pl.concat([w.select(list(WEEKLY_SCHEMA)) for w in weekly])
        .cast(WEEKLY_SCHEMA)
        .sort("week_start", "channel", "scope"),
    )


def _study_calibration(p: Panel, ch: str, ei, ed, resid, window_days: int, hi: int) -> dict | None:
    """The channel's lift studies against its observational residuals: `itt`, the randomized
    (intent-to-treat) incremental orders of the test group over the studies' days: its orders
    from the study's first day to `window_days` after its last measured one, minus the
    holdout's scaled to the test group's size, adjusted for each customer's orders in the 28
    days before (CUPED), with its standard error; `observational`: the sum of the residuals of
    the test group's exposures on the same days. None without a study of the channel."""
    studies = [s for s in p.studies if s.channel == ch and s.holdout.any() and s.test.any()]
    if not studies:
        return None
    y_sum = _cumsum(p.orders)
    itt = var = obs = 0.0
    customers = 0
    for st in studies:
        last = min(st.last, hi)
        y = y_sum[:, min(last + 1 + window_days, p.days)] - y_sum[:, st.first]
        x = y_sum[:, st.first] - y_sum[:, max(st.first - HISTORY_DAYS, 0)]
        arm = st.test | st.holdout
        if np.var(x[arm]) > 0:
            theta = np.cov(x[arm], y[arm])[0, 1] / np.var(x[arm], ddof=1)
            y = y - theta * (x - x[arm].mean())
        yt, yc = y[st.test], y[st.holdout]
        k = yt.size / yc.size
        itt += float(yt.sum() - k * yc.sum())
        var += yt.size * float(yt.var(ddof=1)) + k**2 * yc.size * float(yc.var(ddof=1))
        hit = st.test[ei] & (ed >= st.first) & (ed <= last)
        obs += float(resid[hit].sum())
        customers += int(arm.sum())
    return {"itt": itt, "itt_se": float(np.sqrt(var)), "observational": obs, "customers": customers}


def warehouse_exposure_lift(con) -> ExposureLift:
    """The paid channels' exposure-level measurement on a built warehouse, with the defaults
    the response curves are fitted on (gold/paid_exposure_lift and the lab check both call
    this)."""
    return exposure_lift(panel_from_warehouse(con))
