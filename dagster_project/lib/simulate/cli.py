"""``mopt simulate``: generate a world and write it where ingestion reads raw files."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from tqdm import tqdm

from .params import WorldConfig
from .world import DEFAULT_BLOCK_DAYS, simulate_to


def simulate_command(
    customers: int,
    days: int,
    seed: int,
    out: Path,
    fmt: str = "parquet",
    start_date: date | None = None,
    block_days: int = DEFAULT_BLOCK_DAYS,
    price_drop_share: float = 0.0,
) -> Path:
    """Simulate ``customers`` x ``days`` with ``seed`` and stream the raw tables to ``out`` (the
    day-partitioned ones as ``<table>/part-YYYYMMDD.<fmt>``, plus ``out/truth/``), ``block_days``
    days of the day loop at a time. Prints a stage log, a progress bar and a summary."""
    cfg = WorldConfig(
        customers=customers,
        days=days,
        seed=seed,
        price_drop_share=price_drop_share,
        **({"start_date": start_date} if start_date else {}),
    )
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        tqdm.write(f"[{time.perf_counter() - t0:6.1f}s] {msg}")

    log(
        f"simulating {customers:,} customers x {days} days from {cfg.start_date} (seed {seed}), "
        f"{block_days} days a block"
    )
    with tqdm(total=days, unit="day", desc="days", leave=False) as bar:
        _, manifest = simulate_to(
            cfg, out, log=log, progress=lambda _d: bar.update(1), block_days=block_days, fmt=fmt
        )
    log(f"wrote {fmt} to {out}")

    width = max(len(t) for t in manifest["row_counts"])
    for name, n in manifest["row_counts"].items():
        print(f"  {name:<{width}}  {n:>12,}")
    totals = manifest["totals"]
    print(f"  orders {totals['orders']:,}, revenue {totals['revenue']:,.0f} KRW")
    if "baseline_orders" in totals:
        print(
            f"  without any marketing: {totals['baseline_orders']:,} orders "
            f"(truth in {Path(out) / 'truth'})"
        )
    print(f"  done in {time.perf_counter() - t0:.1f}s")
    return Path(out)
