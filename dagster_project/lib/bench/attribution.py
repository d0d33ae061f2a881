"""Attribution benchmark (`mopt bench attribution`): 100k and 1M journeys with 8 channels, on
synthetic journeys (made here, seeded): journey building from touches, first-order Markov with
removal effects, all standard models together, and the incrementality model."""

from __future__ import annotations

import json
import resource
from datetime import UTC, datetime

import numpy as np
import polars as pl

from dagster_project.lib.attribution import incrementality, models, report
from dagster_project.lib.attribution.journeys import journeys_from_touches
from dagster_project.lib.bench.common import OUT_DIR, median_seconds, publish
from dagster_project.lib.simulate.params import CHANNELS

# Per channel, in the simulator's CHANNELS order: how often it is in a journey, and its lift.
REACH = np.array([0.25, 0.9, 0.6, 0.15, 0.2, 0.3, 0.2, 0.2])
LIFT = np.array([0.35, 0.0, 0.12, 0.25, 0.08, 0.0, 0.30, 0.0])


def synthetic(n_journeys: int, seed: int = 42) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Touches (~5 a journey, over 30 days) and outcomes of 3 journeys per customer."""
    rng = np.random.default_rng(seed)
    n_touch = rng.poisson(4, n_journeys) + 1
    j = np.repeat(np.arange(n_journeys), n_touch)
    ch = rng.choice(len(CHANNELS), size=j.size, p=REACH / REACH.sum())
    start = datetime(2025, 5, 1, tzinfo=UTC).timestamp()
    as_of = start + rng.uniform(30, 365, n_journeys) * 86400
    touched = as_of[j] - rng.uniform(0, 30, j.size) * 86400
    exposed = np.zeros((n_journeys, len(CHANNELS)))
    np.add.at(exposed, (j, ch), 1.0)
    logit = -1.8 + np.log1p(exposed) @ LIFT * 2 + rng.normal(0, 0.5, n_journeys)
    converted = rng.random(n_journeys) < 1 / (1 + np.exp(-logit))
    touches = pl.DataFrame(
        {
            "journey_id": pl.Series(j).cast(pl.Utf8),
            "touched_at": pl.Series((touched * 1e6).astype(np.int64)).cast(
                pl.Datetime("us", "UTC")
            ),
            "channel": np.array(CHANNELS)[ch],
            "campaign_id": pl.Series(ch * 10 + rng.integers(0, 4, j.size)).cast(pl.Utf8),
            "touch_type": np.where(rng.random(j.size) < 0.85, "impression", "click"),
        }
    )
    outcomes = pl.DataFrame(
        {
            "journey_id": pl.Series(np.arange(n_journeys)).cast(pl.Utf8),
            "converted": converted,
            "revenue": np.where(converted, rng.lognormal(10.5, 0.5, n_journeys).round(), 0.0),
            "customer_id": pl.Series(np.arange(n_journeys) // 3).cast(pl.Utf8),
            "as_of": pl.Series((as_of * 1e6).astype(np.int64)).cast(pl.Datetime("us", "UTC")),
        }
    )
    return touches, outcomes


def bench_size(n: int, repeats: int, with_incrementality: bool = True) -> dict:
    touches, outcomes = synthetic(n)
    build_s, jr = median_seconds(lambda: journeys_from_touches(touches, outcomes), repeats)
    markov_s, _ = median_seconds(lambda: models.markov_removal_effects(jr, 1), repeats)
    markov_credit_s, _ = median_seconds(lambda: models.markov(jr, 1), repeats)
    standard_s, _ = median_seconds(
        lambda: report.run_all(jr, markov_orders=(1,), with_incrementality=False), repeats
    )
    inc_s, rows = None, None
    if with_incrementality:
        inc_s, result = median_seconds(lambda: incrementality.attribute(jr), repeats)
        rows = result.training_rows
    row = {
        "journeys": n,
        "touches": jr.touches.height,
        "channels": jr.n_channels,
        "build_journeys_s": build_s,
        "markov1_removal_effects_s": markov_s,
        "markov1_with_credit_s": markov_credit_s,
        "standard_models_all_scopes_s": standard_s,
        "incrementality_s": inc_s,
        "incrementality_training_rows": rows,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(row), flush=True)
    return row


def _inc(row: dict) -> str:
    if row["incrementality_s"] is None:
        return "-"
    mark = " (earlier run)" if row.get("incrementality_from_previous_run") else ""
    return f"{row['incrementality_s']:.1f}{mark}"


def run(sizes: list[int], repeats: int, with_incrementality: bool = True) -> list[dict]:
    """Every size, then the report. Without the incrementality model its figures are kept from
    the previous bench/out/attribution.json."""
    previous = {}
    if not with_incrementality and (OUT_DIR / "attribution.json").exists():
        old = json.loads((OUT_DIR / "attribution.json").read_text())["results"]
        previous = {r["journeys"]: r for r in old}
    rows = [bench_size(n, repeats, with_incrementality) for n in sizes]
    for r in rows:
        if r["incrementality_s"] is None and r["journeys"] in previous:
            r["incrementality_s"] = previous[r["journeys"]]["incrementality_s"]
            r["incrementality_from_previous_run"] = True
    lines = [
        "| journeys | touches | build journeys s | Markov-1 removal effects s "
        "| Markov-1 + credit s | standard models (3 scopes) s | incrementality s | peak RSS MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['journeys']:,} | {r['touches']:,} | {r['build_journeys_s']:.2f} "
        f"| {r['markov1_removal_effects_s']:.2f} | {r['markov1_with_credit_s']:.2f} "
        f"| {r['standard_models_all_scopes_s']:.2f} | {_inc(r)} "
        f"| {r['peak_rss_mb']:,.0f} |"
        for r in rows
    ]
    publish("attribution", {"results": rows}, "\n".join(lines))
    print("\n".join(lines))
    return rows
