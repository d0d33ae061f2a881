"""Budget benchmark (`mopt bench budget`), one section per half of the work:
- lab: one policy-lab evaluation of a 100,000-customer world's last 28 days (the current plan
  and the plan with every channel +20 %, so three scenarios with the references), median wall
  time over repeats, against the target of under 2 minutes.
Each section writes bench/out/budget_<section>.json and its block in docs/budget.md."""

from __future__ import annotations

import resource
from collections.abc import Callable
from datetime import date, timedelta

from dagster_project.lib.bench.common import median_seconds, publish
from dagster_project.lib.settings import REPO_ROOT
from dagster_project.lib.warehouse import markdown_table

DOCS = REPO_ROOT / "docs" / "budget.md"
LAB_TARGET_S = 120.0


def bench_lab(customers: int = 100_000, world_days: int = 182, repeats: int = 3) -> dict:
    import polars as pl

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


SECTIONS: dict[str, Callable[..., dict]] = {"lab": bench_lab}


def run(sections: list[str], repeats: int) -> list[dict]:
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}: choose from {sorted(SECTIONS)}")
    results = []
    for name in sections:
        result = SECTIONS[name](repeats=repeats)
        table = markdown_table(_table(result))
        publish(f"budget_{name}", {"repeats": repeats, "result": result}, table, docs_path=DOCS)
        results.append(result)
    return results


def _table(result: dict):
    import polars as pl

    return pl.DataFrame([{k: str(v) for k, v in result.items()}])
