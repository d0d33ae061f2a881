"""Scale benchmark (`mopt bench scale`): the whole platform end to end at growing world sizes,
stage by stage, each stage its own process (wall time and peak RSS, from the kernel's rusage).

The stages are the issue's: simulate, ingest, dbt build, segments and uplift, products, Feast,
models and scores, attribution and budget, forecast, CRM and campaigns, reports. Each asset of
the definitions belongs to one stage (`STAGE_OF`); the stages run in an order that respects
every dependency between them (`stage_plan` checks it), each as `mopt materialize --select
<its assets>` on the warehouse the earlier stages built. The figure that matters is the cost
per customer: it must not grow from 10k to 100k to 1M, and the largest stage's peak memory
must stay under 20 GB at 1M.
"""

from __future__ import annotations

import graphlib
import json
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dagster_project.lib.bench.common import (
    BIN,
    OUT_DIR,
    parse_size,
    publish,
    run_stage,
)
from dagster_project.lib.bench.demo import demo_env

PEAK_BAR_MB = 20 * 1024
SLOWEST = 8  # steps listed in the report


def _named(*names: str) -> Callable[[str, set[str]], bool]:
    return lambda key, kinds: key.split("/", 1)[-1] in names


def _prefix(*prefixes: str) -> Callable[[str, set[str]], bool]:
    return lambda key, kinds: key.startswith(prefixes)


# First match wins; an asset that matches none fails the plan (a new asset must be placed).
STAGE_OF: list[tuple[str, Callable[[str, set[str]], bool]]] = [
    ("ingest", _prefix("landing/", "reference/")),
    ("dbt build", lambda key, kinds: "dbt" in kinds or key.startswith("bronze/")),
    (
        "segments and uplift",
        _named(
            "customer_segments",
            "segment_behaviour_patterns",
            "campaign_uplift",
            "coupon_uplift_scores",
            "coupon_uplift_evaluation",
            "customer_category_preference",
        ),
    ),
    (
        "products",
        _named(
            "product_embedding",
            "customer_embedding",
            "seller_embedding",
            "product_candidates",
            "product_complements",
            "product_substitutes",
            "trending_products",
            "trending_keywords",
        ),
    ),
    ("feast", _prefix("features/")),
    ("models and scores", lambda key, kinds: key.startswith("models/") or "customer_score" in key),
    (
        "attribution and budget",
        _named(
            "attribution_credit",
            "attributed_roas",
            "conversion_tracking_report",
            "paid_exposure_lift",
            "response_curves",
            "budget_plan",
        ),
    ),
    ("forecast", _named("daily_category_sales", "demand_forecast", "demand_dip_targets")),
    ("crm and campaigns", lambda key, kinds: key.startswith("campaigns/") or "/crm_" in key),
    ("reports", _named("marketing_report")),
]


def stage_plan(graph) -> list[tuple[str, list[str]]]:
    """The stages in an order where every asset's parents are in its own or an earlier stage,
    each with its asset keys (user strings, sorted). Raises if an asset has no stage or two
    stages need each other."""
    stage_of: dict[str, str] = {}
    for key in graph.get_all_asset_keys():
        name, node = key.to_user_string(), graph.get(key)
        stage = next((s for s, match in STAGE_OF if match(name, set(node.kinds))), None)
        if stage is None:
            raise ValueError(f"asset {name} belongs to no stage of lib/bench/scale.STAGE_OF")
        stage_of[name] = stage
    order = graphlib.TopologicalSorter({s: set() for s, _ in STAGE_OF})
    for key in graph.get_all_asset_keys():
        child = stage_of[key.to_user_string()]
        for parent in graph.get(key).parent_keys:
            parent_stage = stage_of.get(parent.to_user_string())
            if parent_stage and parent_stage != child:
                order.add(child, parent_stage)
    try:
        order.prepare()
    except graphlib.CycleError as err:
        raise ValueError(f"stages depend on each other: {err.args[1]}") from err
    rank = {s: i for i, (s, _) in enumerate(STAGE_OF)}
    stages, ready = [], set()
    while order.is_active():  # among the stages ready to run, the first in STAGE_OF's order
        ready |= set(order.get_ready())
        stages.append(min(ready, key=rank.get))
        ready.discard(stages[-1])
        order.done(stages[-1])
    members = {s: sorted(k for k, v in stage_of.items() if v == s) for s in stages}
    return [(s, members[s]) for s in stages if members[s]]


def selection(keys: list[str]) -> str:
    """A Dagster selection string for exactly these asset keys."""
    return " or ".join(f'key:"{k}"' for k in keys)


@dataclass
class StageResult:
    customers: int
    days: int
    stage: str
    seconds: float
    peak_rss_mb: float
    assets: int
    run_seconds: list[float] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)  # Dagster step -> seconds

    @property
    def ms_per_customer(self) -> float:
        return 1000 * self.seconds / self.customers


def bench_world(
    customers: int, days: int, workdir: Path, seed: int, memory_limit: str, block_days: int | None
) -> list[StageResult]:
    """One world from scratch in `workdir`: simulate (streamed by blocks of days), then every
    stage of `stage_plan` as its own `mopt materialize`."""
    from dagster_project.definitions import defs

    workdir = workdir.resolve()
    # A fresh data folder and a Dagster instance of its own, as the demo bench's (the embedded
    # profile, configured as `make install` configures it): the step times come from it.
    env = demo_env(workdir) | {"MOPT_DUCKDB_MEMORY_LIMIT": memory_limit}
    home = Path(env["DAGSTER_HOME"])
    (workdir / "features").mkdir()
    simulate = [
        str(BIN / "mopt"),
        "simulate",
        f"--customers={customers}",
        f"--days={days}",
        f"--seed={seed}",
        f"--out={workdir / 'raw'}",
        *([f"--block-days={block_days}"] if block_days else []),
    ]
    stages = [("simulate", simulate, 0)]
    for stage, keys in stage_plan(defs().resolve_asset_graph()):
        args = [str(BIN / "mopt"), "materialize", "--select", selection(keys)]
        stages.append((stage, args, len(keys)))
    results = []
    for stage, args, assets in stages:
        log = workdir / f"{stage.replace(' ', '_')}.log"
        seconds, rss = run_stage(args, env, log)
        results.append(StageResult(customers, days, stage, seconds, rss, assets, [seconds]))
        print(
            f"  {customers:>9,} x {days}  {stage:<24} {seconds:8.1f} s {rss:9,.0f} MB",
            flush=True,
        )
    for r, steps in zip(results[1:], step_seconds(home), strict=True):
        r.steps = steps
    return results


def step_seconds(home: Path) -> list[dict[str, float]]:
    """Per run of the Dagster instance at `home`, oldest first: each step's wall seconds."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = sorted(
            instance.get_runs(),
            key=lambda run: instance.get_run_record_by_id(run.run_id).create_timestamp,
        )
        return [
            {
                s.step_key: round(s.end_time - s.start_time, 2)
                for s in instance.get_run_step_stats(run.run_id)
                if s.start_time and s.end_time
            }
            for run in runs
        ]


def run(
    sizes: list[str],
    workdir: Path,
    repeats: int = 1,
    seed: int = 42,
    memory_limit: str = "10GB",
    block_days: int | None = None,
) -> list[StageResult]:
    """Every size ('CUSTOMERSxDAYS') `repeats` times from scratch; per stage the median wall time
    and the largest peak RSS, then the report."""
    results = []
    for size in sizes:
        runs = [
            bench_world(*parse_size(size), workdir / size, seed, memory_limit, block_days)
            for _ in range(repeats)
        ]
        for stage_runs in zip(*runs, strict=True):
            first = stage_runs[0]
            seconds = [r.seconds for r in stage_runs]
            results.append(
                StageResult(
                    first.customers,
                    first.days,
                    first.stage,
                    statistics.median(seconds),
                    max(r.peak_rss_mb for r in stage_runs),
                    first.assets,
                    seconds,
                    {
                        k: statistics.median(r.steps.get(k, 0.0) for r in stage_runs)
                        for k in first.steps
                    },
                )
            )
    write_report(kept_sizes(results) + results, memory_limit)
    return results


def kept_sizes(results: list[StageResult], out_dir: Path = OUT_DIR) -> list[StageResult]:
    """The previous report's results for the world sizes this run did not measure, so a 1M run
    (an hour) and the small sizes can be run apart and reported together."""
    path = out_dir / "scale.json"
    if not path.exists():
        return []
    measured = {(r.customers, r.days) for r in results}
    fields = set(StageResult.__dataclass_fields__)
    previous = json.loads(path.read_text())["results"]
    return [
        StageResult(**{k: v for k, v in r.items() if k in fields})
        for r in previous
        if (r["customers"], r["days"]) not in measured
    ]


def totals(results: list[StageResult]) -> list[dict]:
    """Per world size: end-to-end seconds (sum of the stages' medians), the largest stage peak,
    and the cost per customer."""
    sizes = sorted({(r.customers, r.days) for r in results})
    out = []
    for customers, days in sizes:
        rows = [r for r in results if (r.customers, r.days) == (customers, days)]
        seconds = sum(r.seconds for r in rows)
        peak = max(r.peak_rss_mb for r in rows)
        out.append(
            {
                "customers": customers,
                "days": days,
                "seconds": seconds,
                "peak_rss_mb": peak,
                "ms_per_customer": 1000 * seconds / customers,
                "peak_under_bar": peak < PEAK_BAR_MB,
            }
        )
    return out


def write_report(results: list[StageResult], memory_limit: str) -> None:
    sizes = sorted({r.customers for r in results})
    days = sorted({r.days for r in results})
    stages = list(dict.fromkeys(r.stage for r in results))
    cell = {(r.customers, r.stage): r for r in results}
    head = " | ".join(f"{c:,}: s / peak MB / ms per customer" for c in sizes)
    lines = [f"| stage | assets | {head} |", "| --- | ---: |" + " ---: |" * len(sizes)]
    for stage in stages:
        cells = []
        for c in sizes:
            r = cell.get((c, stage))
            cells.append(
                f"{r.seconds:,.1f} / {r.peak_rss_mb:,.0f} / {r.ms_per_customer:.2f}" if r else "–"
            )
        assets = next(r.assets for r in results if r.stage == stage)
        lines.append(f"| {stage} | {assets or '–'} | " + " | ".join(cells) + " |")
    summary = totals(results)
    lines.append(
        "| **end to end** | | "
        + " | ".join(
            f"**{t['seconds']:,.1f} / {t['peak_rss_mb']:,.0f} / {t['ms_per_customer']:.2f}**"
            for t in summary
        )
        + " |"
    )
    lines += [
        "",
        f"{' / '.join(map(str, days))} days; DuckDB memory limit {memory_limit}; "
        f"peak = the largest stage's peak RSS (bar {PEAK_BAR_MB / 1024:.0f} GB).",
    ]
    largest = max(sizes)
    slowest = sorted(
        ((sec, step) for r in results if r.customers == largest for step, sec in r.steps.items()),
        reverse=True,
    )[:SLOWEST]
    lines += ["", f"Slowest steps at {largest:,} customers:", "", "| step | s |", "| --- | ---: |"]
    lines += [f"| {step} | {sec:,.1f} |" for sec, step in slowest]
    payload = {
        "memory_limit": memory_limit,
        "results": [asdict(r) | {"ms_per_customer": r.ms_per_customer} for r in results],
        "totals": summary,
    }
    publish("scale", payload, "\n".join(lines))
