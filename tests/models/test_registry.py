"""The registry's promotion rule on hand-written versions (no training): only a version that
passed its checks can be champion; among those, champion/challenger on the same test window.
And the check verdict and the headline metrics when a metric is undefined (NaN)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

from dagster_project.lib.models import pipeline
from dagster_project.lib.models.registry import Registry

NAME = "purchase_probability"


def register(registry: Registry, passed: bool, auc: float) -> str:
    version, _ = registry.new_version(NAME, "f" * 16)
    check = {"passed": passed, "metric": "roc_auc", "model": auc, "best_baseline": 0.7}
    registry.write_metadata(NAME, version, {"checks": {"beats_baselines": check}})
    return version


def decide(registry: Registry, version: str, auc: float, champion_auc: float | None = None):
    return registry.decide(NAME, version, auc, lambda _: champion_auc, "roc_auc", 0.005)


def test_a_failing_first_model_is_registered_but_never_champion(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    bad = register(registry, passed=False, auc=0.55)
    decision = decide(registry, bad, 0.55)
    assert not decision.promoted and decision.champion is None
    assert registry.champion(NAME) is None
    assert bad in registry.versions(NAME)
    assert "failed beats_baselines; no champion yet" in decision.message
    with pytest.raises(ValueError, match="has not passed its checks"):
        registry.set_champion(NAME, bad, "by hand")

    good = register(registry, passed=True, auc=0.85)
    assert decide(registry, good, 0.85).promoted
    assert registry.champion(NAME) == good


def test_a_failing_challenger_never_replaces_the_champion_even_if_it_scores_higher(
    tmp_path: Path,
) -> None:
    registry = Registry(tmp_path)
    champion = register(registry, passed=True, auc=0.80)
    decide(registry, champion, 0.80)
    # e.g. a higher AUC than the champion's but under a baseline re-fitted on new data
    failing = register(registry, passed=False, auc=0.83)
    decision = decide(registry, failing, 0.83, champion_auc=0.80)
    assert not decision.promoted
    assert registry.champion(NAME) == decision.champion == champion
    assert f"champion stays {champion}" in decision.message


def test_champion_challenger_among_passing_models(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    champion = register(registry, passed=True, auc=0.80)
    decide(registry, champion, 0.80)
    worse = register(registry, passed=True, auc=0.78)
    assert not decide(registry, worse, 0.78, champion_auc=0.80).promoted
    assert registry.champion(NAME) == champion
    close = register(registry, passed=True, auc=0.797)  # within the 0.005 tolerance
    assert decide(registry, close, 0.797, champion_auc=0.80).promoted
    assert registry.champion(NAME) == close


def test_a_champion_file_naming_a_failed_version_is_not_served(tmp_path: Path) -> None:
    """A champion.json written before promotion required passing checks (the old rule promoted
    the first model whatever its check said) does not make that version the champion."""
    registry = Registry(tmp_path)
    bad = register(registry, passed=False, auc=0.55)
    (tmp_path / NAME / "champion.json").write_text(json.dumps({"version": bad}))
    assert registry.champion(NAME) is None


def metrics_table() -> pl.DataFrame:
    nan = float("nan")
    return pl.DataFrame(
        {
            "scorer": ["model", "recency", "rfm"],
            "roc_auc": [0.80, nan, 0.70],
            "log_loss": [0.30, nan, nan],
        }
    )


def test_an_undefined_baseline_metric_is_left_out_not_shown_as_zero() -> None:
    headline = pipeline.headline_metrics(metrics_table(), ("roc_auc", "log_loss"))
    # The recency score is not a probability: its log loss is undefined, not a perfect 0.
    assert "recency/log_loss" not in headline and "rfm/log_loss" not in headline
    assert headline == {"model/roc_auc": 0.80, "rfm/roc_auc": 0.70, "model/log_loss": 0.30}


def test_the_check_ignores_undefined_baselines_and_fails_an_undefined_model() -> None:
    table = metrics_table()
    check = pipeline.beats_baselines(table, NAME)
    assert check["passed"] and check["best_baseline"] == 0.70
    worse = table.with_columns(pl.Series("roc_auc", [0.65, float("nan"), 0.70]))
    assert not pipeline.beats_baselines(worse, NAME)["passed"]
    # One class in the test window: no AUC for anyone, so no evidence the model is better.
    undefined = table.with_columns(pl.lit(float("nan")).alias("roc_auc"))
    verdict = pipeline.beats_baselines(undefined, NAME)
    assert not verdict["passed"] and math.isnan(verdict["best_baseline"])
