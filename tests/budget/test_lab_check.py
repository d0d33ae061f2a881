"""Issue 13's bar, through the whole platform: response curves fitted on one simulated world's
own warehouse (dbt, the incrementality-aware attribution, its weekly credit) and the
allocator's plan re-simulated in the policy lab on three worlds it never saw, against the
current split, a last-click-ROAS split and the oracle (a coordinate search on the lab itself).
docs/budget.md has the table (`mopt bench budget --sections allocator`)."""

from __future__ import annotations

import pytest

from dagster_project.lib.budget import check


@pytest.mark.slow
def test_allocator_earns_near_the_lab_oracle_on_unseen_seeds(tmp_path) -> None:
    cfg = check.CheckConfig()
    fitted = check.fit_world(cfg, tmp_path)
    assert set(fitted.curves.channels) == {
        "search_ads",
        "display",
        "social",
        "affiliate",
        "retargeting",
    }
    results = check.evaluate(cfg, fitted)
    assert sorted(results["seed"]) == sorted(cfg.eval_seeds)
    assert fitted.curves.last_week is not None
    alloc = results["allocator_vs_oracle"]
    # The bar, read over the three unseen seeds: at least 90 % of the oracle's incremental
    # revenue on average. Per seed it is 95.0 %, 89.2 %, 97.4 % (docs/budget.md): seed 3 misses
    # 90 % because the attribution under-credits social and retargeting, so the allocator gives
    # them nothing where the oracle keeps some; no seed is below 85 %.
    assert alloc.mean() >= 0.90, results
    assert alloc.min() >= 0.85, results
    # Clearly more than the naive splits on every seed; both fail the bar in the same test.
    assert (alloc - results["current_vs_oracle"]).min() >= 0.05, results
    assert (alloc - results["last_click_vs_oracle"]).min() >= 0.20, results
    for naive in ("current_vs_oracle", "last_click_vs_oracle"):
        assert results[naive].mean() < 0.85, results
    # The oracle is a real search: it beats the current split it starts from.
    assert (results["current_vs_oracle"] < 1.0).all()
