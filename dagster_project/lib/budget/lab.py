"""The policy lab: re-simulate a period of a simulated world under proposed policies on the same
random numbers, and report what each earns against the current policy and against no
marketing.

The world is rebuilt from its config (same seed, same entities); the day loop runs the factual
world alone until the period starts and then forks it into one scenario per policy, so the
history before ``start`` is identical and every scenario starts the period from the same state
(adstock, carried-over lift, recency of every customer). Within the period the scenarios share
every random number (the simulator is counter-based), so a difference between two scenarios is
the policy's effect on this world, exactly, with no sampling noise from the simulation itself.

Intervals: the exact difference is one draw of customers. The interval says how much it would
move with another draw of customers from the same population: a normal interval on the sum of
the per-customer differences, total +- z sqrt(N) sd(per-customer difference) (central limit
theorem over customers). Paid spend is set by the plan, so it has no interval.

Money: revenue is what customers paid (net of coupon discounts, as the orders table has it);
cost is paid spend + message cost (KakaoTalk per send) + coupon discounts; profit is
``margin`` x gross basket value - cost; ROAS is incremental revenue / incremental cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import norm

from dagster_project.lib.simulate.engine import Scenarios, run_days
from dagster_project.lib.simulate.entities import STRONG_CRM_MULT, Campaigns
from dagster_project.lib.simulate.params import (
    CH,
    CHANNELS,
    PAID_CHANNELS,
    UNIT_COST,
    WorldConfig,
)
from dagster_project.lib.simulate.spend import WEEK_DAYS
from dagster_project.lib.simulate.world import (
    Entities,
    build_entities,
    customer_ids,
    scenario_orders,
)

MARGIN = 0.30  # contribution margin on gross basket value (the marketplace's take and more)
LEVEL = 0.95
CURRENT, NONE = "current", "no_marketing"
PLAN_SCHEMA = {"channel": pl.String, "week_start": pl.Date, "spend": pl.Float64}
LAB_COUPON = "LAB_COUPON"


class PlanError(ValueError):
    """A spend plan or targeting policy that breaks a rule; the message names file, row, rule."""


@dataclass(frozen=True)
class CouponOffer:
    """The coupon every targeting policy sends (the same offer, so only the targeting differs):
    a KakaoTalk message on the period's first evening, valid for the response window."""

    discount_type: str = "fixed"  # fixed (KRW) or percent
    discount_value: float = 5_000.0
    min_order_amount: float = 30_000.0
    # The offer's lift on a customer whose coupon response is 1 (the simulator's strong
    # KakaoTalk coupon: channel lift x STRONG_CRM_MULT); each customer's response scales it.
    lift: float | None = None


# ---- periods and plans ---------------------------------------------------------------------
def _period(cfg: WorldConfig, start: date, days: int) -> tuple[int, int]:
    """(first day index, days), checked: inside the window, on the world's 7-day blocks."""
    first = (start - cfg.start_date).days
    if days < WEEK_DAYS or days % WEEK_DAYS:
        raise PlanError(f"period: days={days} must be a positive multiple of {WEEK_DAYS}")
    if first < 0 or first + days > cfg.days:
        raise PlanError(
            f"period: [{start}, {start + timedelta(days=days)}) must lie inside the world's window "
            f"[{cfg.start_date}, {cfg.end_date})"
        )
    if first % WEEK_DAYS:
        raise PlanError(
            f"period: start {start} must fall on a week start of the world (every {WEEK_DAYS} "
            f"days from {cfg.start_date})"
        )
    return first, days


def week_starts(start: date, days: int) -> list[date]:
    return [start + timedelta(days=d) for d in range(0, days, WEEK_DAYS)]


def current_plan(config: WorldConfig, start: date, days: int) -> pl.DataFrame:
    """The world's own spend plan for the period: one row per paid channel and week."""
    first, days = _period(config, start, days)
    daily = build_entities(config).daily_spend[:, first : first + days]
    weekly = daily.reshape(len(PAID_CHANNELS), -1, WEEK_DAYS).sum(axis=2)
    return pl.DataFrame(
        {
            "channel": np.repeat(PAID_CHANNELS, weekly.shape[1]),
            "week_start": week_starts(start, days) * len(PAID_CHANNELS),
            "spend": np.round(weekly.ravel(), 2),
        },
        schema=PLAN_SCHEMA,
    )


def plan_daily_spend(plan: pl.DataFrame, start: date, days: int, source: str) -> np.ndarray:
    """(paid channels, days) KRW a day from a weekly plan, every rule checked: columns, a known
    paid channel, a finite spend >= 0, one row per channel and week of the period (missing
    channels mean 0: say so with a row). Errors name ``source``, the row (1-based) and the rule."""
    missing = [c for c in PLAN_SCHEMA if c not in plan.columns]
    if missing:
        raise PlanError(f"{source}: missing column(s) {missing}; a plan has {list(PLAN_SCHEMA)}")
    week = pl.col("week_start")
    week = (
        week.str.to_date("%Y-%m-%d", strict=False)
        if plan.schema["week_start"] == pl.String
        else week
    )
    plan = plan.select(
        pl.col("channel").cast(pl.String),
        week.cast(pl.Date, strict=False),
        pl.col("spend").cast(pl.Float64, strict=False),
    )
    plan = plan.with_row_index("row", offset=1)
    weeks = week_starts(start, days)
    rules: list[tuple[str, pl.Expr]] = [
        ("channel is null", pl.col("channel").is_null()),
        (
            f"unknown channel (paid channels: {', '.join(PAID_CHANNELS)})",
            ~pl.col("channel").is_in(list(PAID_CHANNELS)),
        ),
        ("week_start is empty or not a date (YYYY-MM-DD)", pl.col("week_start").is_null()),
        (
            f"week_start not a week of the period ({weeks[0]} .. {weeks[-1]}, every 7 days)",
            ~pl.col("week_start").is_in(weeks),
        ),
        (
            "spend is empty, not a number or not finite",
            pl.col("spend").is_null() | ~pl.col("spend").is_finite(),
        ),
        ("negative spend", pl.col("spend") < 0),
        ("duplicate channel and week", pl.struct("channel", "week_start").is_duplicated()),
    ]
    for rule, bad in rules:
        hit = plan.filter(bad.fill_null(True))
        if hit.height:
            r = hit.row(0, named=True)
            raise PlanError(
                f"{source}: row {r['row']} ({r['channel']}, {r['week_start']}, {r['spend']}): "
                f"{rule}" + (f" (and {hit.height - 1} more rows)" if hit.height > 1 else "")
            )
    have = set(plan.select("channel", "week_start").iter_rows())
    for ch in sorted(set(plan["channel"])):
        gaps = [w for w in weeks if (ch, w) not in have]
        if gaps:
            raise PlanError(
                f"{source}: channel {ch} has no row for week(s) {', '.join(map(str, gaps))}: "
                "missing weeks (give every week of the period; spend 0 for an off week)"
            )
    grid = np.zeros((len(PAID_CHANNELS), len(weeks)))
    for ch, wk, spend in plan.select("channel", "week_start", "spend").iter_rows():
        grid[PAID_CHANNELS.index(ch), weeks.index(wk)] = spend
    return np.repeat(grid / WEEK_DAYS, WEEK_DAYS, axis=1)


# ---- running the scenarios -----------------------------------------------------------------
@dataclass
class _Run:
    names: list[str]
    per_customer: dict[str, np.ndarray]  # metric -> (scenarios, customers)
    paid_cost: np.ndarray  # (scenarios,) paid spend in the period
    n_customers: int


def _simulate(
    cfg: WorldConfig,
    ent: Entities,
    names: list[str],
    paid: list[np.ndarray],
    crm_on: list[np.ndarray],
    first: int,
    days: int,
    sends: dict[int, np.ndarray] | None = None,
    progress: Callable[[int], None] | None = None,
) -> _Run:
    sc = Scenarios(
        names=names,
        paid_spend=np.stack(paid),
        crm_on=np.stack(crm_on),
        fork_day=first,
        stop_day=first + days,
        sends=sends or {},
        record_sends=True,
    )
    loop = run_days(cfg, ent.st, ent.cal, ent.cust, ent.camps, sc, progress)
    n_s, n = len(names), ent.cust.n
    orders = scenario_orders(cfg, ent, loop).filter(pl.col("d") >= first)
    coupon = pl.col("coupon_c").is_not_null()
    per = orders.group_by("s", "i").agg(
        orders=pl.len(),
        revenue=pl.col("net").sum(),
        gross=pl.col("gross").sum(),
        coupon_cost=pl.col("discount").sum(),
        coupons_used=coupon.sum(),
    )
    unit = np.array([UNIT_COST[CHANNELS[ch]] for ch in ent.camps.channel])
    sent = loop.sends
    in_period = sent["d"] >= first
    s_idx, i_idx, c_idx = sent["s"][in_period], sent["i"][in_period], sent["c"][in_period]
    out: dict[str, np.ndarray] = {}
    for col in ("orders", "revenue", "gross", "coupon_cost", "coupons_used"):
        grid = np.zeros((n_s, n))
        grid[per["s"].to_numpy(), per["i"].to_numpy()] = per[col].to_numpy()
        out[col] = grid
    out["message_cost"] = np.zeros((n_s, n))
    np.add.at(out["message_cost"], (s_idx, i_idx), unit[c_idx])
    lab = np.flatnonzero(ent.camps.campaign_id == LAB_COUPON)
    out["coupons_sent"] = np.zeros((n_s, n))
    keep = np.isin(c_idx, lab)
    np.add.at(out["coupons_sent"], (s_idx[keep], i_idx[keep]), 1.0)
    paid_cost = sc.paid_spend[:, :, first : first + days].sum(axis=(1, 2))
    return _Run(names, out, paid_cost, n)


def _summary(run: _Run, margin: float, rows: Sequence[str]) -> pl.DataFrame:
    """One row per scenario in ``rows``: totals, and differences with intervals against the
    current policy and against no marketing."""
    pc = run.per_customer
    cost_i = pc["message_cost"] + pc["coupon_cost"]
    profit_i = margin * pc["gross"] - cost_i
    z = float(norm.ppf(0.5 + LEVEL / 2))
    idx = {name: s for s, name in enumerate(run.names)}
    out = []
    for name in rows:
        s = idx[name]
        orders, revenue = pc["orders"][s].sum(), pc["revenue"][s].sum()
        cost = run.paid_cost[s] + cost_i[s].sum()
        row = {
            "plan": name,
            "orders": int(orders),
            "revenue": float(revenue),
            "aov": float(revenue / orders) if orders else None,
            "paid_spend": float(run.paid_cost[s]),
            "message_cost": float(pc["message_cost"][s].sum()),
            "coupons_sent": int(pc["coupons_sent"][s].sum()),
            "coupons_used": int(pc["coupons_used"][s].sum()),
            "coupon_cost": float(pc["coupon_cost"][s].sum()),
            "cost": float(cost),
            "profit": float(profit_i[s].sum() - run.paid_cost[s]),
        }
        for ref, tag in ((CURRENT, "current"), (NONE, "none")):
            r = idx[ref]
            paid_diff = float(run.paid_cost[s] - run.paid_cost[r])
            diffs = {
                "orders": pc["orders"][s] - pc["orders"][r],
                "revenue": pc["revenue"][s] - pc["revenue"][r],
                "coupon_cost": pc["coupon_cost"][s] - pc["coupon_cost"][r],
                "cost": cost_i[s] - cost_i[r],
                "profit": profit_i[s] - profit_i[r],
            }
            shift = {"cost": paid_diff, "profit": -paid_diff}
            for metric, d in diffs.items():
                total = float(d.sum()) + shift.get(metric, 0.0)
                half = z * np.sqrt(run.n_customers) * float(d.std(ddof=1))
                row[f"inc_{metric}_vs_{tag}"] = total
                row[f"inc_{metric}_vs_{tag}_lo"] = total - half
                row[f"inc_{metric}_vs_{tag}_hi"] = total + half
            inc_cost = row[f"inc_cost_vs_{tag}"]
            row[f"roas_vs_{tag}"] = (
                row[f"inc_revenue_vs_{tag}"] / inc_cost if abs(inc_cost) > 1e-9 else None
            )
            ref_orders, ref_rev = pc["orders"][r].sum(), pc["revenue"][r].sum()
            row[f"aov_change_vs_{tag}"] = (
                row["aov"] - ref_rev / ref_orders if orders and ref_orders else None
            )
        out.append(row)
    return pl.DataFrame(out, infer_schema_length=None)


def _check_names(names: Sequence[str]) -> None:
    clash = {CURRENT, NONE} & set(names)
    if clash:
        raise PlanError(f"plan names {sorted(clash)} are reserved for the lab's references")
    if not names:
        raise PlanError("no plans to evaluate")


def evaluate_plans(
    config: WorldConfig,
    plans: Mapping[str, pl.DataFrame],
    start: date,
    days: int,
    margin: float = MARGIN,
    progress: Callable[[int], None] | None = None,
) -> pl.DataFrame:
    """Re-simulate [start, start + days) under each named spend plan (channel, week_start,
    spend) and the two references; one row per plan (see the module docstring)."""
    _check_names(list(plans))
    first, days = _period(config, start, days)
    daily = {name: plan_daily_spend(p, start, days, f"plan {name!r}") for name, p in plans.items()}
    ent = build_entities(config)
    world = ent.daily_spend
    names, paid, crm = [CURRENT, NONE], [world, world.copy()], [_on(), _on()]
    paid[1][:, first:] = 0.0
    crm[1][:] = False
    for name, spend in daily.items():
        p = world.copy()
        p[:, first : first + days] = spend
        names.append(name)
        paid.append(p)
        crm.append(_on())
    run = _simulate(config, ent, names, paid, crm, first, days, progress=progress)
    return _summary(run, margin, list(plans))


def _on() -> np.ndarray:
    return np.ones(len(CHANNELS), dtype=bool)


# ---- coupon targeting ----------------------------------------------------------------------
def _with_lab_coupon(camps: Campaigns, first: int, w: int, offer: CouponOffer, cfg) -> Campaigns:
    """The world's campaigns plus the lab's coupon (sent on the period's first day at 19:00,
    valid for the response window from the next day)."""
    lift = offer.lift if offer.lift is not None else cfg.channel_lift["kakaotalk"] * STRONG_CRM_MULT
    extra = {
        "campaign_id": LAB_COUPON,
        "name": f"kakaotalk_conversion_lab_coupon_{first}",
        "malformed": False,
        "channel": CH["kakaotalk"],
        "objective": "conversion",
        "start_day": first,
        "end_day": first + w,
        "start_sec": 19 * 3600,
        "night": False,
        "lift": lift,
        "holdout_share": 0.0,
        "utm_source": "kakaotalk",
        "n_creatives": 1,
        "coupon_type": offer.discount_type,
        "coupon_value": offer.discount_value,
        "coupon_min": offer.min_order_amount,
    }

    def grow(old: np.ndarray, value) -> np.ndarray:
        new = np.append(old, value)  # text columns widen to fit; numbers keep their type
        return new if old.dtype.kind in "US" else new.astype(old.dtype)

    return replace(camps, **{k: grow(getattr(camps, k), v) for k, v in extra.items()})


def eligible_customers(config: WorldConfig, start: date) -> np.ndarray:
    """Ids of the customers a coupon on ``start`` may go to: signed up before and opted in."""
    ent = build_entities(config)
    first = (start - config.start_date).days
    ok = (ent.cust.signup_day < first) & ent.cust.opt_in
    return customer_ids(ent.cust)[ok]


def evaluate_coupon_policies(
    config: WorldConfig,
    targets: Mapping[str, Sequence[str]],
    start: date,
    days: int,
    offer: CouponOffer | None = None,
    margin: float = MARGIN,
    progress: Callable[[int], None] | None = None,
) -> pl.DataFrame:
    """Re-simulate [start, start + days) with the current policy plus one coupon, sent on
    ``start`` to each policy's customers (ids); one row per policy, the same columns as
    evaluate_plans (against the current policy: the coupon's own effect)."""
    _check_names(list(targets))
    offer = offer or CouponOffer()
    if offer.discount_type not in ("fixed", "percent") or offer.discount_value <= 0:
        raise PlanError(f"coupon offer: {offer}: discount_type fixed|percent and a value > 0")
    first, days = _period(config, start, days)
    if first < 1:
        raise PlanError("coupon policies: the period must start after the world's first day")
    ent = build_entities(config)
    ent.camps = _with_lab_coupon(ent.camps, first, config.response_window_days, offer, config)
    ids = customer_ids(ent.cust)
    index = pl.DataFrame({"customer_id": ids, "i": np.arange(ids.size)})
    eligible = (ent.cust.signup_day < first) & ent.cust.opt_in
    names = [CURRENT, NONE, *targets]
    mask = np.zeros((len(names), ids.size), dtype=bool)
    for s, (name, chosen) in enumerate(targets.items(), start=2):
        frame = pl.DataFrame({"customer_id": pl.Series(list(chosen), dtype=pl.String)})
        frame = frame.with_row_index("row", offset=1).join(index, on="customer_id", how="left")
        for rule, bad in (
            ("unknown customer id", pl.col("i").is_null()),
            ("duplicate customer id", pl.col("customer_id").is_duplicated()),
        ):
            hit = frame.filter(bad)
            if hit.height:
                r = hit.row(0, named=True)
                raise PlanError(
                    f"policy {name!r}: row {r['row']} ({r['customer_id']}): {rule} "
                    f"({hit.height} rows)"
                )
        i = frame["i"].to_numpy()
        not_ok = ~eligible[i]
        if not_ok.any():
            r = int(np.flatnonzero(not_ok)[0])
            raise PlanError(
                f"policy {name!r}: row {r + 1} ({ids[i[r]]}): not eligible (needs marketing "
                f"consent and a sign-up before {start}; {int(not_ok.sum())} rows)"
            )
        mask[s, i] = True
    world = ent.daily_spend
    paid = [world] * len(names)
    crm = [_on() for _ in names]
    paid[1] = world.copy()
    paid[1][:, first:] = 0.0
    crm[1][:] = False
    sends = {len(ent.camps) - 1: mask}
    run = _simulate(config, ent, names, paid, crm, first, days, sends=sends, progress=progress)
    return _summary(run, margin, list(targets))


# ---- the coupon play's targeting policies (item: judged in the lab) --------------------------
def _kst_midnight_utc(day: date) -> datetime:
    """The business day's start (Asia/Seoul) as a naive UTC timestamp, as the models' cutoffs."""
    return datetime.combine(day, datetime.min.time()) - timedelta(hours=9)


def _history_orders(world_tables: Mapping[str, pl.DataFrame], cutoff: datetime) -> pl.DataFrame:
    return (
        world_tables["orders"]
        .select(
            "customer_id",
            pl.col("ordered_at").dt.replace_time_zone(None),
            pl.col("order_amount").alias("order_amount_krw"),
        )
        .filter(pl.col("ordered_at") < cutoff)
    )


def _ziln_scores(orders: pl.DataFrame, pool: pl.DataFrame, cutoff: datetime, horizon: int):
    """The platform's ZILN model (lib/models, on orders alone) fitted on the two windows of
    ``horizon`` days before ``cutoff`` and scored at it: P(buy) x LTV, the expected spend."""
    from dagster_project.lib.models.backtest import fit_model
    from dagster_project.lib.models.orders import (
        CUTOFF,
        ORDER_FEATURES,
        label_orders,
        orders_features,
    )

    def labelled(at: datetime) -> pl.DataFrame:
        feats = orders_features(orders.filter(pl.col("ordered_at") < at), [at])
        return label_orders(feats.select("customer_id", CUTOFF), orders, horizon).join(
            feats, on=["customer_id", CUTOFF], how="left", maintain_order="left"
        )

    h = timedelta(days=horizon)
    model = fit_model(labelled(cutoff - 2 * h), labelled(cutoff - h), ORDER_FEATURES, None, None)
    feats = orders_features(orders, [cutoff], customers=pool)
    return feats.select("customer_id").with_columns(
        score=pl.Series(model.predict(feats)["expected_value_krw"].to_numpy())
    )


def _uplift_scores(world_tables, orders: pl.DataFrame, pool: pl.DataFrame, cutoff, window: int):
    """The platform's two-model uplift learner (lib/uplift) trained on the world's past coupon
    campaigns (treatment vs holdout, converted = an order in the response window after the send),
    with order features as of each send; scored at ``cutoff``."""
    from dagster_project.lib.models.orders import CUTOFF, orders_features
    from dagster_project.lib.uplift.model import fit_two_model

    coupon_campaigns = world_tables["coupons"]["campaign_id"].to_list()
    sends = (
        world_tables["campaign_sends"]
        .filter(pl.col("campaign_id").is_in(coupon_campaigns))
        .with_columns(pl.col("assigned_at").dt.replace_time_zone(None))
        .filter(pl.col("assigned_at") + timedelta(days=window) < cutoff)
    )
    if sends.is_empty():
        raise PlanError(f"uplift policy: no coupon campaign with a complete window before {cutoff}")
    sent_at = sends.group_by("campaign_id").agg(pl.col("assigned_at").min().alias(CUTOFF))
    sends = sends.join(sent_at, on="campaign_id")
    feats = orders_features(orders, sent_at[CUTOFF].to_list(), customers=sends)
    outcome = (
        sends.select("campaign_id", "customer_id", CUTOFF)
        .join(orders, on="customer_id")
        .filter(
            pl.col("ordered_at") > pl.col(CUTOFF),
            pl.col("ordered_at") <= pl.col(CUTOFF) + timedelta(days=window),
        )
        .select("campaign_id", "customer_id", converted=pl.lit(1))
        .unique()
    )
    rows = (
        sends.select(
            "campaign_id", "customer_id", CUTOFF, is_treatment=pl.col("group") == "treatment"
        )
        .join(feats, on=["customer_id", CUTOFF], how="left")
        .join(outcome, on=["campaign_id", "customer_id"], how="left")
        .with_columns(pl.col("converted").fill_null(0))
        .sort("campaign_id", "customer_id")
    )
    model = fit_two_model(rows)
    now = orders_features(orders, [cutoff], customers=pool)
    return now.select("customer_id").with_columns(
        score=pl.Series(model.predict(now)["uplift"].to_numpy())
    )


def coupon_targets(
    config: WorldConfig,
    world_tables: Mapping[str, pl.DataFrame],
    start: date,
    n_coupons: int,
    seed: int = 0,
    horizon_days: int = 28,
) -> dict[str, list[str]]:
    """The four targeting policies of the coupon play, each ``n_coupons`` eligible customers,
    from the history before ``start`` only: recency (most recent buyers first), the
    P(buy) x LTV grid (the ZILN expected spend over ``horizon_days``), the uplift model's top
    customers, and random."""
    pool = pl.DataFrame({"customer_id": eligible_customers(config, start)})
    if n_coupons < 1 or n_coupons > pool.height:
        raise PlanError(f"coupons: {n_coupons} must be between 1 and the {pool.height:,} eligible")
    cutoff = _kst_midnight_utc(start)
    orders = _history_orders(world_tables, cutoff)
    last = orders.group_by("customer_id").agg(last=pl.col("ordered_at").max())
    recency = pool.join(last, on="customer_id", how="left").sort(
        "last", "customer_id", descending=[True, False], nulls_last=True
    )

    def top(scores: pl.DataFrame) -> list[str]:
        ranked = scores.sort("score", "customer_id", descending=[True, False])
        return ranked["customer_id"].head(n_coupons).to_list()

    rng = np.random.default_rng(seed)
    return {
        "recency": recency["customer_id"].head(n_coupons).to_list(),
        "pbuy_x_ltv": top(_ziln_scores(orders, pool, cutoff, horizon_days)),
        "uplift_model": top(
            _uplift_scores(world_tables, orders, pool, cutoff, config.response_window_days)
        ),
        "random": sorted(rng.choice(pool["customer_id"].to_numpy(), n_coupons, replace=False)),
    }


def read_plan(path: str | Path) -> pl.DataFrame:
    """A spend plan from CSV or Parquet (channel, week_start, spend); checked by
    plan_daily_spend when evaluated."""
    path = Path(path)
    if not path.exists():
        raise PlanError(f"{path}: no such file")
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    return pl.read_csv(path, schema_overrides={"channel": pl.String, "week_start": pl.String})


DISPLAY_COLUMNS = (
    "plan",
    "orders",
    "revenue",
    "aov",
    "cost",
    "profit",
    "inc_orders_vs_current",
    "inc_revenue_vs_current",
    "inc_profit_vs_current",
    "roas_vs_current",
    "inc_orders_vs_none",
    "inc_revenue_vs_none",
    "roas_vs_none",
)
