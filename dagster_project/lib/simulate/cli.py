"""``mopt simulate``: generate a world and write it where ingestion reads raw files."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from tqdm import tqdm

from .params import WorldConfig
from .world import simulate, write_world


def simulate_command(
    customers: int,
    days: int,
    seed: int,
    out: Path,
    fmt: str = "parquet",
    start_date: date | None = None,
) -> Path:
    """Simulate ``customers`` x ``days`` with ``seed`` and write the raw tables to ``out`` (plus
    ``out/truth/``). Prints a stage log, a day-loop progress bar and a summary."""
    cfg = WorldConfig(
        customers=customers,
        days=days,
        seed=seed,
        **({"start_date": start_date} if start_date else {}),
    )
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        tqdm.write(f"[{time.perf_counter() - t0:6.1f}s] {msg}")

    log(f"simulating {customers:,} customers x {days} days from {cfg.start_date} (seed {seed})")
    with tqdm(total=days, unit="day", desc="days", leave=False) as bar:
        world = simulate(cfg, log=log, progress=lambda _d: bar.update(1))
    write_world(world, out, fmt)
    log(f"wrote {fmt} to {out}")

    width = max(len(t) for t in world.tables)
    for name, n in world.manifest["row_counts"].items():
        print(f"  {name:<{width}}  {n:>12,}")
    totals = world.manifest["totals"]
    print(f"  orders {totals['orders']:,}, revenue {totals['revenue']:,.0f} KRW")
    if "baseline_orders" in totals:
        print(
            f"  without any marketing: {totals['baseline_orders']:,} orders "
            f"(truth in {Path(out) / 'truth'})"
        )
    print(f"  done in {time.perf_counter() - t0:.1f}s")
    return Path(out)
