from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

from dagster_project.lib.uplift.measure import (
    STOP_VERDICTS,
    VerdictRule,
    campaigns_to_stop,
    measure_uplift,
    pooled_uplift,
    random_effects,
)
from dagster_project.lib.warehouse import connect


def _arm(campaign: str, treated: bool, n: int, rate: float, rng) -> pl.DataFrame:
    """An arm whose conversion rate is exactly `rate` (in random order)."""
    converted = rng.permutation(n) < round(rate * n)
    return pl.DataFrame(
        {
            "campaign_id": [campaign] * n,
            "is_treatment": [treated] * n,
            "is_converted": converted,
            "revenue_krw": np.where(converted, rng.lognormal(10.5, 0.5, n), 0.0),
        }
    )


def _synthetic() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    return pl.concat(
        [
            _arm("up", True, 2000, 0.30, rng),
            _arm("up", False, 2000, 0.10, rng),
            _arm("flat", True, 20_000, 0.10, rng),
            _arm("flat", False, 20_000, 0.10, rng),
            _arm("down", True, 2000, 0.05, rng),
            _arm("down", False, 2000, 0.15, rng),
            _arm("small", True, 3000, 0.14, rng),  # a real +0.04 that 450 holdouts cannot show
            _arm("small", False, 450, 0.10, rng),
            _arm("tiny", True, 20, 0.5, rng),
            _arm("tiny", False, 10, 0.1, rng),
        ]
    )


def test_verdicts_and_simultaneous_intervals_on_synthetic_campaigns() -> None:
    sends = _synthetic()
    report = measure_uplift(sends)
    by = {r["campaign_id"]: r for r in report.iter_rows(named=True)}
    assert {c: r["verdict"] for c, r in by.items()} == {
        "up": "effective",
        "flat": "no_effect",
        "down": "harmful",
        "small": "inconclusive",
        "tiny": "inconclusive",
    }
    m = report.height
    for cid, r in by.items():
        part = sends.filter(pl.col("campaign_id") == cid)
        t = part.filter("is_treatment")
        h = part.filter(~pl.col("is_treatment"))
        # Revenue's per-campaign 95 % interval is Welch's, as scipy computes it from the rows ...
        welch = stats.ttest_ind(
            t["revenue_krw"].to_numpy(), h["revenue_krw"].to_numpy(), equal_var=False
        ).confidence_interval(0.95)
        assert r["revenue_diff_low"] == pytest.approx(welch.low), cid
        assert r["revenue_diff_high"] == pytest.approx(welch.high), cid
        # ... conversion's is Newcombe's score interval, at 95 % and, for the verdict, at
        # 1 - alpha / m (Bonferroni, simultaneous), as statsmodels computes it from the counts.
        counts = (t["is_converted"].sum(), t.height, h["is_converted"].sum(), h.height)
        for level, low, high in (
            (0.05, "diff_low", "diff_high"),
            (0.05 / m, "sim_low", "sim_high"),
        ):
            ci = confint_proportions_2indep(*counts, method="newcomb", compare="diff", alpha=level)
            assert r[f"conversion_{low}"] == pytest.approx(ci[0]), (cid, level)
            assert r[f"conversion_{high}"] == pytest.approx(ci[1]), (cid, level)
    assert by["up"]["conversion_sim_low"] < 0.2 < by["up"]["conversion_sim_high"]
    assert by["up"]["conversion_ratio_low"] < 3.0 < by["up"]["conversion_ratio_high"]
    # Only shown harm or shown absence of an effect is a reason to stop; "small" needs more
    # customers, and the report says how many.
    assert campaigns_to_stop(report)["campaign_id"].to_list() == ["down", "flat"]
    assert by["small"]["mde"] > by["small"]["conversion_diff"] > 0
    assert by["small"]["holdout_needed"] > 450


def test_the_interval_shown_is_the_one_the_verdict_reads() -> None:
    """The old report showed an unadjusted interval above zero next to a Holm-adjusted
    'no_evidence' verdict, and listed the campaign to stop. Here the verdict follows from the
    simultaneous interval alone, and a campaign whose interval straddles zero is never stopped."""
    report = measure_uplift(_synthetic())
    small = report.filter(pl.col("campaign_id") == "small").row(0, named=True)
    assert small["conversion_diff_low"] > 0  # unadjusted 95 %: excludes zero ...
    assert small["conversion_sim_low"] < 0 < small["conversion_sim_high"]  # ... simultaneous not
    assert small["verdict"] == "inconclusive"
    assert "small" not in campaigns_to_stop(report)["campaign_id"].to_list()
    band = VerdictRule().band
    lo, hi, verdict = (
        report[c].to_numpy() for c in ("conversion_sim_low", "conversion_sim_high", "verdict")
    )
    assert ((verdict == "effective") == (lo > 0)).all()
    assert ((verdict == "harmful") == (hi < 0)).all()
    assert (
        (verdict == "no_effect") == ((lo >= -band) & (hi <= band) & (lo <= 0) & (hi >= 0))
    ).all()
    # Bonferroni p-values agree with the intervals: below alpha exactly when zero is outside.
    assert ((report["conversion_pvalue_adjusted"].to_numpy() < 0.05) == ((lo > 0) | (hi < 0))).all()


def test_a_holdout_unlucky_by_chance_does_not_make_a_campaign_effective() -> None:
    """CI's test world, session 8: a zero-effect push whose holdout converted 4 of 79 (19 %
    planted) against the treatment's 25 of 133. Welch's interval took the holdout's variance from
    its unlucky 5 % and, over 30 campaigns, called it effective (simultaneous low +0.004); the
    score interval does not shrink with the rate, and straddles zero."""
    rng = np.random.default_rng(8)
    fillers = [
        _arm(f"c{i:02d}", treated, 200, 0.10, rng) for i in range(29) for treated in (True, False)
    ]
    sends = pl.concat(
        [_arm("lucky", True, 133, 25 / 133, rng), _arm("lucky", False, 79, 4 / 79, rng), *fillers]
    )
    lucky = measure_uplift(sends).filter(pl.col("campaign_id") == "lucky").row(0, named=True)
    assert lucky["conversion_diff"] == pytest.approx(25 / 133 - 4 / 79)
    assert lucky["conversion_sim_low"] < 0 < lucky["conversion_sim_high"], lucky
    assert lucky["verdict"] == "inconclusive"
    assert lucky["conversion_pvalue_adjusted"] > 0.05


def test_holdout_needed_makes_the_observed_effect_detectable() -> None:
    rule = VerdictRule()
    small = measure_uplift(_synthetic(), rule=rule).filter(pl.col("campaign_id") == "small")
    r = small.row(0, named=True)
    p_t, p_h, n_t = r["conversion_treatment"], r["conversion_holdout"], r["n_treatment"]
    m = 5  # the synthetic campaigns
    z = stats.norm.ppf(1 - rule.alpha / (2 * m)) + stats.norm.ppf(rule.power)

    def detectable(n_h: float) -> float:
        return z * np.sqrt(p_t * (1 - p_t) / n_t + p_h * (1 - p_h) / n_h)

    needed = r["holdout_needed"]
    assert detectable(needed) <= r["conversion_diff"] < detectable(needed - 1)
    assert r["mde"] == pytest.approx(z * r["conversion_se"])


def test_random_effects_matches_dersimonian_laird_by_hand() -> None:
    d, se = np.array([0.10, 0.02, 0.06]), np.array([0.02, 0.03, 0.04])
    w = 1 / se**2  # 2500, 1111.1, 625
    fixed = (w * d).sum() / w.sum()
    q = (w * (d - fixed) ** 2).sum()
    tau2 = (q - 2) / (w.sum() - (w**2).sum() / w.sum())
    assert tau2 > 0
    mean, mean_se, tau = random_effects(d, se)
    w_re = 1 / (se**2 + tau2)
    assert mean == pytest.approx((w_re * d).sum() / w_re.sum())
    assert mean_se == pytest.approx(w_re.sum() ** -0.5)
    assert tau == pytest.approx(tau2**0.5)
    # Identical estimates: no spread between campaigns, the fixed-effect mean.
    assert random_effects(np.array([0.05, 0.05]), np.array([0.01, 0.02]))[2] == 0.0
    # One campaign: its own estimate, no spread, and no 0 / 0 on the way.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert random_effects(np.array([0.05]), np.array([0.01])) == (0.05, 0.01, 0.0)


def test_pooling_compares_each_campaign_with_its_own_holdout() -> None:
    # Two campaigns, both +0.05: A converts 40 % with a 10 % holdout, B 5 % with a 50 %
    # holdout. One big two-arm table would see a treatment rate pulled up by A's many treated.
    rng = np.random.default_rng(5)
    sends = pl.concat(
        [
            _arm("A", True, 9000, 0.45, rng),
            _arm("A", False, 1000, 0.40, rng),
            _arm("B", True, 5000, 0.10, rng),
            _arm("B", False, 5000, 0.05, rng),
        ]
    )
    naive = sends.group_by("is_treatment").agg(pl.col("is_converted").mean()).sort("is_treatment")
    assert naive["is_converted"][1] - naive["is_converted"][0] > 0.15
    report = measure_uplift(sends).with_columns(
        channel=pl.lit("kakaotalk"), objective=pl.lit("retention")
    )
    groups, campaigns = pooled_uplift(report)
    pooled = groups.row(0, named=True)
    assert pooled["campaigns"] == 2
    assert pooled["conversion_sim_low"] < 0.05 < pooled["conversion_sim_high"]
    assert pooled["verdict"] == "effective"
    assert campaigns["conversion_diff_shrunk"].null_count() == 0


# Measured on the test world (30 CRM campaigns, 5,000 customers): see the assertions' messages.
MIN_STRONG_FOUND = 4


def _world_report(world: Path) -> pl.DataFrame:
    with connect(world / "warehouse.duckdb", read_only=True) as con:
        sends = con.sql(
            "select campaign_id, is_treatment, is_converted, revenue_krw"
            " from gold.fct_campaign_sends where is_window_complete"
        ).pl()
        campaigns = con.sql("select campaign_id, channel, objective from gold.dim_campaigns").pl()
    truth = pl.read_parquet(world / "raw" / "truth" / "campaign_uplift.parquet").select(
        "campaign_id", "true_uplift", "is_zero_effect", "is_negative"
    )
    _, report = pooled_uplift(measure_uplift(sends, campaigns))
    both = report.join(truth, on="campaign_id", how="inner")
    assert both.height == report.height >= 25
    return both


def test_verdicts_match_the_true_campaign_effects(world: Path) -> None:
    both = _world_report(world)
    band = VerdictRule().band
    # No zero-effect or negative campaign is ever called effective ...
    wrong = both.filter(
        (pl.col("is_zero_effect") | pl.col("is_negative")) & (pl.col("verdict") == "effective")
    )
    assert wrong.is_empty(), wrong.select("campaign_id", "channel", "conversion_diff", "verdict")
    # ... and no campaign that truly works (an uplift of at least the band) is a stop candidate.
    stopped = both.filter((pl.col("true_uplift") >= band) & pl.col("verdict").is_in(STOP_VERDICTS))
    assert stopped.is_empty(), stopped.select("campaign_id", "true_uplift", "verdict")
    assert both.filter((pl.col("true_uplift") > 0) & (pl.col("verdict") == "harmful")).is_empty()
    strong = both.filter(pl.col("true_uplift") > 0.10)
    assert strong.height >= 5
    assert (strong["verdict"] == "effective").sum() >= MIN_STRONG_FOUND, strong.select(
        "campaign_id", "true_uplift", "conversion_diff", "conversion_sim_low", "verdict"
    )
    # Simultaneous 95 % intervals: all of them cover the truth in all but rare worlds.
    missed = both.filter(
        (pl.col("conversion_sim_low") > pl.col("true_uplift"))
        | (pl.col("true_uplift") > pl.col("conversion_sim_high"))
    )
    assert missed.height <= 1, missed.select("campaign_id", "true_uplift", "conversion_sim_low")


def test_pooled_estimates_are_closer_to_the_truth_than_each_campaign_alone(world: Path) -> None:
    both = _world_report(world)
    raw = ((both["conversion_diff"] - both["true_uplift"]) ** 2).mean()
    shrunk = ((both["conversion_diff_shrunk"] - both["true_uplift"]) ** 2).mean()
    assert shrunk < 0.8 * raw, (shrunk, raw)
