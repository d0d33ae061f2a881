"""ZILN maths against Monte Carlo draws, the metrics against direct sklearn/scipy computations,
and the BG/NBD purchase probability against a simulation of the process."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sklearn import metrics as skm

from dagster_project.lib.models import metrics
from dagster_project.lib.models.ziln import ziln_expected_value, ziln_quantile


@pytest.mark.parametrize(
    ("p", "mu", "sigma"), [(0.3, 10.0, 0.6), (0.05, 11.0, 1.2), (0.9, 9.0, 0.3)]
)
def test_expected_value_and_quantiles_match_monte_carlo(p: float, mu: float, sigma: float) -> None:
    rng = np.random.default_rng(0)
    n = 2_000_000
    draws = np.where(rng.random(n) < p, rng.lognormal(mu, sigma, n), 0.0)
    expected = ziln_expected_value(np.array([p]), np.array([mu]), np.array([sigma]))[0]
    stderr = draws.std() / np.sqrt(n)
    assert abs(draws.mean() - expected) < 4 * stderr
    for q in (0.1, 0.5, 0.9, 0.95):
        value = ziln_quantile(np.array([p]), np.array([mu]), np.array([sigma]), q)[0]
        assert np.mean(draws <= value) == pytest.approx(q, abs=0.002) or (value == 0 and q <= 1 - p)


def test_normalized_gini_perfect_random_and_ties() -> None:
    rng = np.random.default_rng(1)
    actual = np.where(rng.random(5000) < 0.2, rng.lognormal(10, 1, 5000), 0.0)
    assert metrics.normalized_gini(actual, actual) == pytest.approx(1.0)
    assert abs(metrics.normalized_gini(actual, rng.random(5000))) < 0.05
    # A constant prediction is a random order, whatever the row order: Gini 0.
    assert metrics.normalized_gini(actual, np.zeros(5000)) == pytest.approx(0.0, abs=1e-9)
    # For 0/1 outcomes the normalized Gini is 2 AUC - 1 rescaled by the perfect ordering.
    y = (actual > 0).astype(float)
    score = y + rng.normal(0, 1, 5000)
    gini = metrics.normalized_gini(y, score)
    auc = skm.roc_auc_score(y, score)
    assert gini == pytest.approx((2 * auc - 1), abs=1e-6)


def test_value_metrics_match_direct_computation() -> None:
    rng = np.random.default_rng(2)
    actual = np.where(rng.random(1000) < 0.3, rng.lognormal(10, 1, 1000), 0.0)
    predicted = actual * rng.lognormal(0, 0.5, 1000) + 1000
    out = metrics.value_metrics(actual, predicted)
    assert out["spearman"] == pytest.approx(stats.spearmanr(actual, predicted).statistic)
    assert out["total_spend_relative_error"] == pytest.approx(predicted.sum() / actual.sum() - 1)
    order = np.argsort(-predicted, kind="stable")
    deciles = np.array_split(order, 10)
    pred_means = np.array([predicted[d].mean() for d in deciles])
    act_means = np.array([actual[d].mean() for d in deciles])
    keep = act_means > 0
    assert out["decile_mape"] == pytest.approx(
        np.mean(np.abs(pred_means[keep] - act_means[keep]) / act_means[keep])
    )


def test_bgnbd_purchase_probability_of_a_new_customer_matches_simulation() -> None:
    """With no repeat purchase yet (x = 0) a BG/NBD customer is alive and their rate is
    Gamma(r, alpha + T): P(a purchase within t) = 1 - ((alpha + T) / (alpha + T + t))^r."""
    from dagster_project.lib.models.btyd import BgNbdGammaGamma

    r, alpha, T, t = 0.25, 30.0, 200.0, 90.0
    model = BgNbdGammaGamma({"r": r, "alpha": alpha, "a": 0.8, "b": 2.4}, {}, None, None)
    rng = np.random.default_rng(3)
    lam = rng.gamma(r, 1 / (alpha + T), 1_000_000)
    simulated = np.mean(rng.exponential(1 / lam) < t)
    p_none = ((alpha + T) / (alpha + T + t)) ** r
    assert 1 - p_none == pytest.approx(simulated, abs=0.002)
    assert model.params["r"] == r


def test_bgnbd_fit_recovers_the_published_cdnow_parameters() -> None:
    """Fader, Hardie and Lee (2005) fit BG/NBD to the CDNOW 1/10 sample (2,357 customers, 39
    calibration weeks): r 0.243, alpha 4.414, a 0.793, b 2.426 (weeks)."""
    from dagster_project.lib.models.btyd import BgNbdGammaGamma
    from dagster_project.lib.models.datasets import cdnow_path

    summary = pl.read_csv(cdnow_path().with_name("cdnow_customers_summary.csv")).select(
        pl.col("frequency").cast(pl.Float64),
        pl.col("recency").cast(pl.Float64),
        pl.col("T").cast(pl.Float64),
        pl.lit(0.0).alias("monetary_value"),
        pl.col("frequency").cast(pl.String).alias("customer_id"),
    )
    fitted = BgNbdGammaGamma.fit_bgnbd_only(summary)
    assert fitted["r"] == pytest.approx(0.243, abs=0.002)
    assert fitted["alpha"] == pytest.approx(4.414, abs=0.02)
    assert fitted["a"] == pytest.approx(0.793, abs=0.01)
    assert fitted["b"] == pytest.approx(2.426, abs=0.02)
