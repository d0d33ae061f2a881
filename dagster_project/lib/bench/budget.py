"""Budget benchmark (`mopt bench budget`), one section per half of the work:
- fit: response curves and the plan for 8 channels x 52 weeks of seeded planted data (median
  wall time of fit + plan), the recovery of the planted curves over 12 seeds, and the
  allocator's plan judged under the true curves against the true-curve optimum, the current
  split and a last-click-ROAS split;
- lab: one policy-lab evaluation of a 100,000-customer world's last 28 days (the current plan
  and the plan with every channel +20 %, so four scenarios with the references), median wall
  time over repeats, against the target of under 2 minutes.
- allocator: the allocator judged in the policy lab on worlds it did not see
  (lib/budget/check.py): curves fitted through the whole pipeline (dbt, attribution) on seed 1,
  the plan re-simulated on seeds 2-4 against the current split, a last-click-ROAS split and the
  oracle (a coordinate search on the lab).
Each section writes bench/out/budget_<section>.json and its block in docs/budget.md."""

from __future__ import annotations

import resource
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import polars as pl

from dagster_project.lib.bench.common import median_seconds, run_sections
from dagster_project.lib.settings import REPO_ROOT
from dagster_project.lib.warehouse import markdown_table

DOCS = REPO_ROOT / "docs" / "budget.md"
CHANNELS, WEEKS = 8, 52
RECOVERY_SEEDS = range(12)


def _true_curves(rc):
    """The planted curves in the fitted curves' form (no uncertainty): the allocator on them is
    the true optimum of the steady weekly rate."""
    from scipy.special import logit

    from dagster_project.lib.budget import curves, synthetic

    out = {}
    for ch in synthetic.planted(CHANNELS):
        c = rc.curves[ch.channel]
        theta = np.array(
            [
                logit(ch.decay / curves.DECAY_MAX),
                np.log(ch.half_saturation / c.spend_unit),
                np.log(ch.shape - curves.SHAPE_MIN),
                np.log(ch.scale / c.outcome_unit),
            ]
        )
        out[ch.channel] = curves.ChannelCurve(
            **{
                **c.__dict__,
                "theta": theta,
                "cov": np.zeros((4, 4)),
                "revenue_per_order": ch.revenue_per_order,
                "first_share": ch.first_share,
            }
        )
    return curves.ResponseCurves(out, rc.last_week)


def fit_section(repeats: int = 3) -> dict:
    """Timing, recovery and allocation quality of the curves + allocator (see the module)."""
    from dagster_project.lib.budget import allocate, curves, synthetic

    world = synthetic.weekly_world(CHANNELS, WEEKS, seed=0)

    def fit_and_plan():
        rc = curves.fit_curves(world["weekly"])
        budget = 4 * sum(c.current_spend for c in rc.curves.values())
        plan = allocate.plan_budget(rc, budget, weeks=4)
        curves.curve_table(rc)
        return rc, plan

    seconds, _ = median_seconds(fit_and_plan, repeats)
    print(f"fit + plan, {CHANNELS} channels x {WEEKS} weeks: {seconds:.2f} s", flush=True)
    rows = []
    for seed in RECOVERY_SEEDS:
        w = synthetic.weekly_world(CHANNELS, WEEKS, seed=seed)
        rc = curves.fit_curves(w["weekly"], current_weeks=WEEKS)
        check = curves.recovery(rc, w["truth_curves"])
        budget = sum(c.current_spend for c in rc.curves.values())
        lc = w["last_click"].with_columns(roas=pl.col("revenue") / pl.col("spend"))
        last_click = dict(zip(lc["channel"], lc["roas"], strict=True))
        oracle = allocate.allocate(_true_curves(rc), budget).spend
        rows.append(
            {
                "seed": seed,
                "max_orders_error": float(check["orders_error"].abs().max()),
                "mroas_ranking_right": bool((check["fitted_rank"] == check["true_rank"]).all()),
                "allocator_vs_oracle": synthetic.true_revenue(allocate.allocate(rc, budget).spend)
                / synthetic.true_revenue(oracle),
                "current_vs_oracle": synthetic.true_revenue(allocate.current_split(rc, budget))
                / synthetic.true_revenue(oracle),
                "last_click_vs_oracle": synthetic.true_revenue(
                    allocate.proportional_split(last_click, budget)
                )
                / synthetic.true_revenue(oracle),
            }
        )
        print(f"seed {seed}: {rows[-1]}", flush=True)
    return {"channels": CHANNELS, "weeks": WEEKS, "fit_plan_median_s": seconds, "seeds": rows}


def fit_table(result: dict, repeats: int) -> str:
    seeds = pl.DataFrame(result["seeds"])
    summary = pl.DataFrame(
        {
            "measure": [
                f"fit + plan, {result['channels']} channels x {result['weeks']} weeks "
                f"(median of {repeats}), s",
                "max |incremental orders error| at current spend, worst seed",
                "max |incremental orders error|, median seed",
                "seeds with the marginal-ROAS ranking exactly right",
                "allocator / true optimum (true revenue), worst seed",
                "current split / true optimum, median seed",
                "last-click-ROAS split / true optimum, median seed",
            ],
            "value": [
                f"{result['fit_plan_median_s']:.2f}",
                f"{seeds['max_orders_error'].max():.1%}",
                f"{seeds['max_orders_error'].median():.1%}",
                f"{int(seeds['mroas_ranking_right'].sum())} / {seeds.height}",
                f"{seeds['allocator_vs_oracle'].min():.1%}",
                f"{seeds['current_vs_oracle'].median():.1%}",
                f"{seeds['last_click_vs_oracle'].median():.1%}",
            ],
        }
    )
    return markdown_table(summary)


LAB_TARGET_S = 120.0


def bench_lab(customers: int = 100_000, world_days: int = 182, repeats: int = 3) -> dict:
    from dagster_project.lib.budget import lab
    from dagster_project.lib.simulate import WorldConfig

    cfg = WorldConfig(customers=customers, days=world_days, seed=42, start_date=date(2025, 3, 3))
    period = 28
    start = cfg.start_date + timedelta(days=(world_days - period) // 7 * 7)
    plan = lab.current_plan(cfg, start, period)
    plans = {"current": plan, "plus_20": plan.with_columns(pl.col("spend") * 1.2)}
    plans = {f"plan_{k}": v for k, v in plans.items()}
    seconds, table = median_seconds(lambda: lab.evaluate_plans(cfg, plans, start, period), repeats)
    result = {
        "section": "lab",
        "customers": customers,
        "world_days": world_days,
        "period": f"{start} + {period} days",
        "scenarios": len(plans) + 2,
        "median_s": round(seconds, 2),
        "target_s": LAB_TARGET_S,
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "orders_current": int(table["orders"][0]),
        "inc_orders_plus_20": float(table["inc_orders_vs_current"][1]),
    }
    print(f"lab: {seconds:.1f} s median of {repeats} ({customers:,} customers)", flush=True)
    return result


def allocator_section(repeats: int = 1) -> dict:
    """The lab-based allocator check (lib/budget/check.py); `repeats` is ignored (the check is
    deterministic: the same seeds give the same table)."""
    import tempfile
    import time
    from pathlib import Path

    from dagster_project.lib.budget import check

    cfg = check.CheckConfig()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="budget_check_") as tmp:
        fitted = check.fit_world(cfg, Path(tmp))
        recovery = check.recovery_tables(fitted)
    results = check.evaluate(cfg, fitted)
    return {
        "section": "allocator",
        "recovery": {k: v.to_dicts() for k, v in recovery.items()},
        "config": {k: str(v) for k, v in cfg.__dict__.items()},
        "weekly_budget_krw": fitted.weekly_budget,
        "seconds": round(time.perf_counter() - started, 1),
        "seeds": results.to_dicts(),
        "splits": check.splits_table(fitted, results).to_dicts(),
        "not_fitted": fitted.skipped,
    }


def allocator_table(result: dict) -> str:
    from dagster_project.lib.display import formatted

    seeds = pl.DataFrame(result["seeds"])
    cfg = result["config"]
    ratios = ("allocator_vs_oracle", "current_vs_oracle", "last_click_vs_oracle")
    per_seed = seeds.select(
        pl.col("seed").cast(pl.String),
        pl.col("oracle_krw"),
        *ratios,
        pl.col("oracle_plans_simulated"),
    )
    mean = seeds.select(pl.lit("mean").alias("seed"), *(pl.col(c).mean() for c in ratios))
    shown = formatted(pl.concat([per_seed, mean], how="diagonal"), rate_columns=ratios)
    splits = pl.DataFrame(result["splits"]).drop("last_click_roas")
    splits = formatted(splits, money_columns=splits.columns[1:])
    return (
        f"Fit world: seed {cfg['fit_seed']}, {int(cfg['customers']):,} customers x "
        f"{cfg['fit_days']} days from {cfg['start_date']}; evaluation worlds: seeds "
        f"{cfg['eval_seeds']}, {int(cfg['eval_customers']):,} customers x {cfg['eval_days']} days, "
        f"period {cfg['period_days']} days from {check_start(cfg)}; weekly budget "
        f"{result['weekly_budget_krw']:,.0f} KRW in the fit world's units. Incremental revenue "
        f"against the period with no paid spend. {result['seconds']:.0f} s in all. Lift "
        f"studies in the fit world: {cfg.get('lift_studies', '()')}.\n\n"
        + markdown_table(shown)
        + "\n\nWeekly spend per channel (KRW, in the fit world's units; the oracle's scaled "
        "back by customers):\n\n" + markdown_table(splits) + recovery_text(result)
    )


def recovery_text(result: dict) -> str:
    """The fit world's curves against its planted ones, for each input of the curves, and the
    paid channels' exposure-level measurement."""
    from dagster_project.lib.display import formatted

    rec = result.get("recovery") or {}
    out = []
    titles = {
        "exposure_lift": "Curves fitted on the exposure-level measurement (the check's input)",
        "attribution": "Curves fitted on the attribution's credit alone (the old input)",
    }
    for name, title in titles.items():
        if name in rec:
            table = pl.DataFrame(rec[name])
            out.append(
                f"{title}:\n\n" + markdown_table(formatted(table, rate_columns=["orders_error"]))
            )
    if "measurement" in rec:
        table = pl.DataFrame(rec["measurement"])
        out.append(
            "The exposure-level measurement over the fit world's year (incremental orders, 95 %"
            " interval, standard error clustered by customer) against the truth:\n\n"
            + markdown_table(formatted(table))
        )
    return "".join(f"\n\n{part}" for part in out)


def check_start(cfg: dict) -> str:
    start = date.fromisoformat(cfg["start_date"])
    days = (int(cfg["eval_days"]) - int(cfg["period_days"])) // 7 * 7
    return str(start + timedelta(days=days))


SECTIONS: dict[str, Callable[..., dict]] = {
    "fit": fit_section,
    "lab": bench_lab,
    "allocator": allocator_section,
}
TABLES: dict[str, Callable[..., str]] = {
    "fit": fit_table,
    "lab": lambda result, repeats: markdown_table(_table(result)),
    "allocator": lambda result, repeats: allocator_table(result),
}


def run(sections: list[str], repeats: int) -> list[dict]:
    return run_sections(
        "budget",
        sections,
        repeats,
        SECTIONS,
        lambda name, result, repeats: TABLES[name](result, repeats),
        lambda name: DOCS,
    )


def _table(result: dict):
    return pl.DataFrame([{k: str(v) for k, v in result.items()}])
