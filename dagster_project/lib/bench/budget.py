"""Budget benchmark (`mopt bench budget`). The fit section: response curves and the plan for 8
channels x 52 weeks of seeded planted data (median wall time of fit + plan over repeats), the
recovery of the planted curves over 12 seeds, and the allocator's plan judged under the true
curves against the true-curve optimum, the current split and a last-click-ROAS split.
Writes bench/out/budget_fit.json and the bench:budget_fit block of docs/budget.md."""

from __future__ import annotations

import numpy as np
import polars as pl

from dagster_project.lib.bench.common import median_seconds, publish
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


def run_fit(repeats: int = 3) -> dict:
    result = fit_section(repeats)
    publish("budget_fit", result, fit_table(result, repeats), docs_path=DOCS)
    return result
