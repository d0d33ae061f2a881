from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from dagster_project.lib.segments import bands


def _scores(p: list[float], ev: list[float] | None = None) -> pl.DataFrame:
    data = {"customer_id": [f"C{i:03d}" for i in range(len(p))], "p_buy": p}
    if ev is not None:
        data["expected_value_krw"] = ev
    return pl.DataFrame(data)


def test_deciles_split_evenly_and_ties_share_a_decile() -> None:
    out = bands.probability_deciles(_scores(list(np.linspace(0.01, 0.99, 100))))
    assert out.group_by("p_buy_decile").len()["len"].to_list() == [10] * 10
    assert out.sort("p_buy")["p_buy_decile"].to_list()[-1] == 10
    tied = bands.probability_deciles(_scores([0.2] * 50 + list(np.linspace(0.3, 0.9, 50))))
    assert tied.filter(pl.col("p_buy") == 0.2)["p_buy_decile"].n_unique() == 1


def test_marketer_bands_include_edges_and_reject_overlaps() -> None:
    out = bands.probability_bands(
        _scores([0.0, 0.05, 0.1, 0.49, 0.5, 1.0]),
        {"cold": (0.0, 0.1), "warm": (0.1, 0.5), "hot": (0.5, 1.0)},
    )
    assert out["p_buy_band"].to_list() == ["cold", "cold", "warm", "warm", "hot", "hot"]
    partial = bands.probability_bands(_scores([0.05, 0.7]), {"hot": (0.5, 1.0)})
    assert partial["p_buy_band"].to_list() == [None, "hot"]
    with pytest.raises(ValueError, match="'a' and 'b' overlap"):
        bands.probability_bands(_scores([0.1]), {"a": (0.0, 0.3), "b": (0.2, 0.6)})
    with pytest.raises(ValueError, match="customer C001 has 1.5"):
        bands.probability_deciles(_scores([0.2, 1.5]))


def test_value_grid_cells_actions_and_summary() -> None:
    scores = _scores([0.05, 0.3, 0.8, 0.8, 0.05], [5_000.0, 50_000.0, 200_000.0, 1_000.0, 90_000.0])
    grid = bands.value_grid(scores, p_edges=(0.1, 0.5), value_edges=(10_000.0, 100_000.0))
    assert grid["grid_cell"].to_list() == ["low/low", "mid/mid", "high/high", "high/low", "low/mid"]
    assert grid["action"].null_count() == 0
    assert grid.filter(pl.col("grid_cell") == "high/high")["action"][0].startswith("no coupon")
    summary = bands.grid_summary(grid)
    assert summary["customers"].sum() == 5
    assert summary.row(0, named=True)["p_level"] == "high"
    # Default edges are terciles: each level holds about a third of customers.
    big = _scores(list(np.linspace(0, 1, 300)), list(np.linspace(1e3, 1e5, 300)))
    counts = bands.value_grid(big).group_by("p_level").len()["len"].to_list()
    assert all(90 <= c <= 110 for c in counts)
    with pytest.raises(ValueError, match="expected_value_krw"):
        bands.value_grid(_scores([0.1]))
