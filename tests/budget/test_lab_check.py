"""Issue 13's bars, through the whole platform: response curves fitted on one simulated world's
own warehouse (40,000 customers with a lift study of search ads: dbt, the paid channels'
exposure-level measurement calibrated by the study, the incrementality-aware attribution for
the rest) and the allocator's plan re-simulated in the policy lab on three
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


def _ranked_right_where_the_truth_tells(rows: dict[str, dict], tie: float = 0.10) -> list:
    """The pairs of channels whose fitted marginal ROAS are in the wrong order although their
    true ones differ by more than `tie` (relative): a near tie no measurement resolves may go
    either way."""
    wrong = []
    for a, ra in rows.items():
        for b, rb in rows.items():
            ta, tb = ra["true_marginal_roas"], rb["true_marginal_roas"]
            if ta > tb * (1 + tie) and ra["fitted_marginal_roas"] <= rb["fitted_marginal_roas"]:
                wrong.append((a, b))
    return wrong


@pytest.mark.slow
def test_fitted_curves_recover_the_planted_ones_where_the_attribution_does_not(fitted) -> None:
    tables = check.recovery_tables(fitted)
    got = _by_channel(tables["exposure_lift"])
    assert set(got) | _measured_nothing(fitted) == set(PAID_CHANNELS)
    # Marginal ROAS in the true order (on this world affiliate and retargeting are 2 % apart in
    # truth, 0.518 and 0.509, and come out swapped: 0.48 and 0.51).
    assert not _ranked_right_where_the_truth_tells(got), got
    # Every channel with an effect within 20 % of the truth at its current spend (docs/budget.md:
    # affiliate -3 %, retargeting -19 %, search ads -1 %, social -0 %); search's level comes from
    # the lift study (its exposure-level figure alone is ~66 % high).
    for ch in ("affiliate", "retargeting", "search_ads", "social"):
        assert abs(got[ch]["orders_error"]) <= 0.20, (ch, got[ch])
    # Display does nothing: a few incremental orders a week against search's ~95, or no curve
    # at all because its measurement credited it nothing.
    assert (
        "display" in _measured_nothing(fitted)
        or got["display"]["fitted_orders"] < 0.05 * got["search_ads"]["fitted_orders"]
    ), got
    # The old input, the attribution's credit alone, fails the same bar on every channel with an
    # effect (on this world: social -63 %, affiliate -46 %, retargeting -95 %, search -36 %).
    old = _by_channel(tables["attribution"])
    assert {"social", "retargeting"} <= set(old), old
    assert all(abs(r["orders_error"]) > 0.20 for r in old.values() if r["true_orders"] > 0), old


@pytest.mark.slow
def test_allocator_earns_near_the_lab_oracle_on_unseen_seeds(fitted) -> None:
    cfg = check.CheckConfig()
    assert set(fitted.curves.channels) | _measured_nothing(fitted) == set(PAID_CHANNELS)
    results = check.evaluate(cfg, fitted)
    assert sorted(results["seed"]) == sorted(cfg.eval_seeds)
    assert fitted.curves.last_week is not None
    alloc = results["allocator_vs_oracle"]
    # The bar: at least 90 % of the oracle's incremental revenue on each of the three unseen
    # seeds (docs/budget.md: 99.2 %, 99.1 %, 96.8 %).
    assert alloc.min() >= 0.90, results
    # Clearly more than the naive splits on every seed; both fail the bar in the same test.
    assert (alloc - results["current_vs_oracle"]).min() >= 0.05, results
    assert (alloc - results["last_click_vs_oracle"]).min() >= 0.20, results
    for naive in ("current_vs_oracle", "last_click_vs_oracle"):
        assert results[naive].mean() < 0.85, results
    # The oracle is a real search: it beats the current split it starts from.
    assert (results["current_vs_oracle"] < 1.0).all()
