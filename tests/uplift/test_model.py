from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from dagster_project.lib.uplift import model as m
from dagster_project.lib.warehouse import connect


def _synthetic(n: int = 20_000, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    treated = rng.random(n) < 0.5
    base, effect = 0.1, 0.3 * x  # the effect grows with x
    y = rng.random(n) < base + treated * effect
    return x, treated, y


def test_qini_ranks_oracle_over_random_over_reversed() -> None:
    x, t, y = _synthetic()
    good, bad = m.qini_coefficient(x, t, y), m.qini_coefficient(-x, t, y)
    rnd = m.qini_coefficient(np.random.default_rng(2).random(x.size), t, y)
    assert good > 0.008 and bad < -0.008 and abs(rnd) < 0.003
    curve = m.qini_curve(x, t, y)
    # The end point is the overall incremental conversions: treated minus scaled control.
    expected = y[t].sum() - y[~t].sum() * t.sum() / (~t).sum()
    assert curve[-1] == pytest.approx(expected)


def test_uplift_at_k_hand_example() -> None:
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.0])
    treated = np.array([True, False, True, False, True, False])
    outcome = np.array([1, 0, 1, 1, 0, 1])
    # Top half (3 rows): treated {1, 1}, control {0} -> 1.0
    assert m.uplift_at_k(score, treated, outcome, 0.5) == pytest.approx(1.0)
    # Top 4: treated {1, 1}, control {0, 1} -> 1.0 - 0.5
    assert m.uplift_at_k(score, treated, outcome, 4 / 6) == pytest.approx(0.5)
    assert m.uplift_at_k(score, treated, outcome, 1 / 6) is None


def _captured(score: np.ndarray, truth: np.ndarray, k: float = 0.2) -> float:
    """Share of all the true uplift that targeting the top `k` by `score` collects."""
    top = np.argsort(-score, kind="stable")[: int(round(k * score.size))]
    return float(truth[top].sum() / truth.sum())


# Bars against the true per-customer coupon effect (truth/coupon_effects) on held-out campaigns.
MIN_SPEARMAN = 0.2
MIN_CAPTURED = 0.3


def test_uplift_model_ranks_by_the_true_coupon_effect_better_than_a_response_model(
    world: Path,
) -> None:
    with connect(world / "warehouse.duckdb", read_only=True) as con:
        rows = m.coupon_training_rows(con)
    assert rows["campaign_id"].n_unique() >= 4
    # Point in time: each row's features are from a business day (Asia/Seoul) that ended
    # before the assignment (assigned_at is UTC).
    assigned_day = (
        rows["assigned_at"].dt.replace_time_zone("UTC").dt.convert_time_zone("Asia/Seoul").dt.date()
    )
    assert rows["feature_snapshot_date"].null_count() < rows.height * 0.05
    snapshot = rows["feature_snapshot_date"]
    assert (snapshot.is_null() | (snapshot < assigned_day)).all()
    assert (snapshot.is_null() | (snapshot == assigned_day - timedelta(days=1))).all()
    evaluation = m.evaluate_leave_one_campaign_out(rows)
    truth = pl.read_parquet(world / "raw" / "truth" / "coupon_effects.parquet")
    held = evaluation.held_out.join(
        truth.select("campaign_id", "customer_id", "true_uplift"),
        on=["campaign_id", "customer_id"],
        how="left",
    )
    assert held["true_uplift"].null_count() == 0  # every held-out row has its true effect
    true = held["true_uplift"].to_numpy()
    model, response = held["uplift"].to_numpy(), held["p_control"].to_numpy()
    rho_model = stats.spearmanr(model, true).statistic
    rho_response = stats.spearmanr(response, true).statistic
    top_model, top_response = _captured(model, true), _captured(response, true)
    figures = (
        f"spearman {rho_model:.3f} vs {rho_response:.3f};"
        f" top 20 % {top_model:.3f} vs {top_response:.3f}"
    )
    # Against the truth: the model's ranking follows the true effect (random captures 0.20 of
    # it in the top 20 %), and ranking by purchase probability (who buys anyway: the sure
    # things) fails the same bars. Measured: Spearman 0.256 vs 0.098, top 20 % 0.354 vs 0.231.
    assert rho_model >= MIN_SPEARMAN > rho_response and rho_model > rho_response + 0.1, figures
    assert top_model >= MIN_CAPTURED > top_response and top_model > top_response + 0.05, figures
    # And on the outcomes alone (what the asset check sees): above random orderings.
    qini = dict(zip(evaluation.summary["strategy"], evaluation.summary["qini"], strict=True))
    assert qini["uplift_model"] > float(np.percentile(evaluation.random_qinis, 95)), qini
    # Deterministic: the same data gives the same scores.
    again = m.evaluate_leave_one_campaign_out(rows)
    assert again.held_out.equals(evaluation.held_out)
    assert (
        evaluation.per_campaign.filter(pl.col("strategy") == "uplift_model").height
        == rows["campaign_id"].n_unique()
    )


def test_a_model_no_better_than_random_is_flagged_and_its_scores_withheld(
    world: Path, tmp_path: Path
) -> None:
    """Outcomes that are pure noise (independent of the coupon): the held-out Qini cannot beat
    random orderings, the check fails, and yesterday's scores table is dropped, so no campaign
    rule can target by coupon_uplift."""
    import shutil

    import dagster as dg

    from dagster_project.defs.resources import Warehouse
    from dagster_project.defs.uplift.assets import EVALUATION_KEY, coupon_uplift_scores
    from dagster_project.lib.campaigns.source import audience_source

    shutil.copy(world / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    # One noise draw: the check (above the random orderings' p95) passes 1 draw in 20 by
    # construction; the 'noise' draw became such a one when the simulator changed (issue 14).
    with connect(tmp_path / "warehouse.duckdb") as con:
        con.execute(
            "create or replace table gold.fct_campaign_sends as select * replace"
            " (hash(send_id || 'noise-2') % 10 < 3 as is_converted) from gold.fct_campaign_sends"
        )
        con.execute("create table gold.coupon_uplift_scores as select 'C1' as customer_id")
    warehouse = Warehouse(
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        raw_dir=str(world / "raw"),
        features_dir=str(tmp_path / "features"),
    )
    result = dg.materialize([coupon_uplift_scores], resources={"warehouse": warehouse})
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.asset_key == EVALUATION_KEY and check.check_name == "qini_above_random"
    assert not check.passed
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {EVALUATION_KEY}
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        assert "coupon_uplift" not in audience_source(con).columns
