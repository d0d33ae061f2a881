"""The streamed simulator (issue 15): the world written day by day to partitioned Parquet is the
same, byte for byte, whatever the day loop's block size, and it is the in-memory world cut by
business date."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dagster_project.lib.ingest import find_files, land_table
from dagster_project.lib.simulate import WorldConfig, simulate
from dagster_project.lib.simulate.engine import run_days, world_scenarios
from dagster_project.lib.simulate.world import (
    PARTITIONED,
    _BaseGrid,
    build_entities,
    simulate_to,
)
from dagster_project.lib.warehouse import connect

CFG = WorldConfig(customers=400, days=45, seed=5, start_date=date(2025, 3, 1))
TIME = {
    "sessions": "started_at",
    "events": "occurred_at",
    "orders": "ordered_at",
    "marketing_touches": "occurred_at",
}


@pytest.fixture(scope="module")
def streamed(tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("stream")
    return {b: simulate_to(CFG, root / f"block{b}", block_days=b)[0] for b in (1, 7, 45)}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.parquet")}


def test_every_file_is_the_same_whatever_the_block_size(streamed) -> None:
    one, *others = (_files(root) for root in streamed.values())
    assert len(one) > 5 * 30  # a file per table and day, the whole tables, the truth
    for files in others:
        assert files.keys() == one.keys()
        assert [name for name in one if files[name] != one[name]] == []


def test_the_parts_are_the_in_memory_world_cut_by_business_date(streamed) -> None:
    world = simulate(CFG)
    root = streamed[7]
    for name, df in world.tables.items():
        parts = find_files(root, name)
        if name not in PARTITIONED:
            assert parts[0] == root / f"{name}.parquet"  # (customers/: later profile changes)
            assert pl.read_parquet(parts[0]).equals(df), name
            continue
        assert all(p.parent.name == name for p in parts), name
        assert pl.concat([pl.read_parquet(p) for p in parts]).equals(df), name
        for p in parts:  # each file holds exactly its business date's rows
            rows = pl.read_parquet(p)
            if name == "order_items":
                rows = rows.join(world.tables["orders"], on="order_id")
            col = TIME.get(name, "ordered_at")
            local = rows[col].dt.convert_time_zone(CFG.timezone).dt.date().unique()
            assert local.to_list() == [datetime.strptime(p.stem, "part-%Y%m%d").date()], (
                name,
                p.name,
            )
        assert df.height == world.manifest["row_counts"][name]
    # The ids run over the whole window in time order, across the files.
    ev = world.tables["events"]
    assert ev["event_id"].is_sorted() and ev["occurred_at"].is_sorted()
    assert ev["event_id"].str.slice(2).cast(pl.Int64).to_list() == list(range(1, ev.height + 1))
    for key in ("truth/channel_effects.parquet", "truth/trigger_intent.parquet"):
        assert pl.read_parquet(root / key).equals(world.truth[Path(key).stem]), key


def test_landing_reads_the_partitioned_folders(streamed, tmp_path) -> None:
    root = streamed[7]
    with connect(tmp_path / "w.duckdb") as con:
        for name in ("events", "orders", "customers"):
            load = land_table(con, root, name)
            manifest = json.loads((root / "truth" / "manifest.json").read_text())
            expected = manifest["row_counts"][name]
            if name == "customers":  # plus the later profile changes
                expected += manifest["later_file_row_counts"]["customers/profile_changes"]
            assert load.rows_in_landing == expected, name
            assert len(load.files_loaded) == len(find_files(root, name)), name


def test_the_intensity_without_marketing_is_recomputed_exactly() -> None:
    """The truth no longer keeps the (N, D) base grid: _BaseGrid recomputes it from the
    episodes; it must be the day loop's float32 values bit for bit."""
    ent = build_entities(CFG)
    loop = run_days(
        CFG, ent.st, ent.cal, ent.cust, ent.camps, world_scenarios(CFG, ent.daily_spend)
    )
    i, d = np.meshgrid(np.arange(CFG.customers), np.arange(CFG.days), indexing="ij")
    again = _BaseGrid(ent.cust, ent.cal, loop.episode_grid)[i.ravel(), d.ravel()]
    assert loop.base_grid.any()
    assert np.array_equal(again.reshape(i.shape), loop.base_grid)
