"""CRM benchmark (`mopt bench crm`): the per-customer models of issue 16 on a simulated world,
median wall time over repeats. Sections are pluggable: each is a function in ``SECTIONS`` that
takes the context and returns one result row; `--sections` picks them."""

from __future__ import annotations

import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time

import polars as pl

from dagster_project.lib.bench.common import median_seconds, publish
from dagster_project.lib.warehouse import markdown_table


@dataclass
class Context:
    customers: int
    days: int
    seed: int
    repeats: int
    _cache: dict = field(default_factory=dict)

    def lab_world(self):
        """The simulated world with its exploration history (built once, not timed)."""
        if "lab" not in self._cache:
            from dagster_project.lib.crm.lab import lab_world
            from dagster_project.lib.simulate import WorldConfig

            cfg = WorldConfig(customers=self.customers, days=self.days, seed=self.seed)
            self._cache["lab"] = lab_world(cfg)
        return self._cache["lab"]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def send_time(ctx: Context) -> dict:
    from dagster_project.lib.crm.send_time import best_hours, fit_send_times

    lw = ctx.lab_world()

    def fit():
        model = fit_send_times(lw.sessions, lw.customers)
        return model, best_hours(model, lw.customers, lw.day(0), (time(10), time(23)))

    seconds, (model, hours) = median_seconds(fit, ctx.repeats)
    return {
        "section": "send_time (fit + best hour in a window)",
        "customers": lw.customers.height,
        "input_rows": lw.sessions.height,
        "median_s": round(seconds, 2),
        "peak_rss_mb": round(_peak_mb()),
        "rows_out": hours.height,
    }


def caps(ctx: Context) -> dict:
    from dagster_project.lib.crm.caps import fit_caps

    lw = ctx.lab_world()
    segments = lw.customers.select("customer_id", segment="browsing_type")
    seconds, model = median_seconds(lambda: fit_caps(lw.history, segments, 3), ctx.repeats)
    return {
        "section": "caps (window counts + tolerance EM on a 12-point grid)",
        "customers": lw.customers.height,
        "input_rows": lw.history.height,
        "median_s": round(seconds, 2),
        "peak_rss_mb": round(_peak_mb()),
        "rows_out": model.table.height,
    }


SECTIONS: dict[str, Callable[[Context], dict]] = {"send_time": send_time, "caps": caps}


def run(sections: list[str], customers: int, days: int, seed: int, repeats: int) -> None:
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}; known: {', '.join(SECTIONS)}")
    ctx = Context(customers, days, seed, repeats)
    rows = []
    for name in sections:
        rows.append(SECTIONS[name](ctx))
        print(rows[-1], flush=True)
    publish(
        "crm",
        {"customers": customers, "days": days, "seed": seed, "repeats": repeats, "results": rows},
        markdown_table(pl.DataFrame(rows)),
    )
