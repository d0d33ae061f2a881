"""Issue 13's bars, through the whole platform: response curves fitted on one simulated world's
own warehouse (dbt, the paid channels' exposure-level measurement, the incrementality-aware
attribution for the rest) and the allocator's plan re-simulated in the policy lab on three
worlds it never saw, against the current split, a last-click-ROAS split and the oracle (a
coordinate search on the lab itself); and the fitted curves against the planted ones.
docs/budget.md has the tables (`mopt bench budget --sections allocator`)."""

from __future__ import annotations

import polars as pl
import pytest

from dagster_project.lib.budget import check
from dagster_project.lib.simulate.params import PAID_CHANNELS


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> check.Fitted:
    return check.fit_world(check.CheckConfig(), tmp_path_factory.mktemp("fit_world"))


def _measured_nothing(fitted: check.Fitted) -> set[str]:
    """Channels without a curve because the measurement credited them no incremental orders:
    allowed only for display, whose planted effect is zero."""
    nothing = {ch for ch, why in fitted.skipped.items() if why == "no incremental orders credited"}
    assert nothing <= {"display"}, fitted.skipped
    return nothing


def _by_channel(table: pl.DataFrame) -> dict[str, dict]:
    return {row["channel"]: row for row in table.iter_rows(named=True)}


@pytest.mark.slow
def test_fitted_curves_recover_the_planted_ones_where_the_attribution_does_not(fitted) -> None:
    tables = check.recovery_tables(fitted)
    got = _by_channel(tables["exposure_lift"])
    assert set(got) | _measured_nothing(fitted) == set(PAID_CHANNELS)
    ranks = {ch: (r["fitted_rank"], r["true_rank"]) for ch, r in got.items()}
    assert all(f == t for f, t in ranks.values()), ranks
    # Social and retargeting within 20 % of the truth (docs/budget.md: -12 % and +6 % on this
    # world; their standard errors are 22 % and 46 %).
    for ch in ("social", "retargeting"):
        assert abs(got[ch]["orders_error"]) <= 0.20, (ch, got[ch])
    # Affiliate misses the bar (+24 %) inside its own sampling error (se 23 % at 10k
    # customers); search ads miss it (+46 %) by a bias: they follow shopping episodes the
    # platform cannot see, a confounding the exposure-level comparison keeps. Bounded here so
    # neither can grow.
    assert abs(got["affiliate"]["orders_error"]) <= 0.40, got["affiliate"]
    assert 0.0 < got["search_ads"]["orders_error"] <= 0.55, got["search_ads"]
    # Display does nothing: under one incremental order a week against search's ~35, or no
    # curve at all because its measurement credited it nothing.
    assert "display" in _measured_nothing(fitted) or got["display"]["fitted_orders"] < 1.0, got
    # The old input, the attribution's credit alone, fails the same bar on every channel it
    # credits, the two the exposure-level measurement passes included (on this world: social
    # -42 %, affiliate -36 %, retargeting -58 %, search ads -29 %).
    old = _by_channel(tables["attribution"])
    assert {"social", "retargeting"} <= set(old), old
    assert all(abs(r["orders_error"]) > 0.20 for r in old.values()), old


@pytest.mark.slow
def test_allocator_earns_near_the_lab_oracle_on_unseen_seeds(fitted) -> None:
    cfg = check.CheckConfig()
    assert set(fitted.curves.channels) | _measured_nothing(fitted) == set(PAID_CHANNELS)
    results = check.evaluate(cfg, fitted)
    assert sorted(results["seed"]) == sorted(cfg.eval_seeds)
    assert fitted.curves.last_week is not None
    alloc = results["allocator_vs_oracle"]
    # The bar, read over the three unseen seeds: at least 90 % of the oracle's incremental
    # revenue on average, and no seed below 85 % (docs/budget.md has the per-seed figures).
    assert alloc.mean() >= 0.90, results
    assert alloc.min() >= 0.85, results
    # Clearly more than the naive splits on every seed; both fail the bar in the same test.
    assert (alloc - results["current_vs_oracle"]).min() >= 0.05, results
    assert (alloc - results["last_click_vs_oracle"]).min() >= 0.20, results
    for naive in ("current_vs_oracle", "last_click_vs_oracle"):
        assert results[naive].mean() < 0.85, results
    # The oracle is a real search: it beats the current split it starts from.
    assert (results["current_vs_oracle"] < 1.0).all()
