"""Attribution on journeys generated outside the project (tests/attribution/outside_journeys.py:
its own generative model with shopping episodes, organic visits, intent-driven search and
retargeting, zero-effect channels and an exact truth), fed through `mopt attribute` as a user's
export would be: the incrementality model meets the issue's bars, last click and Markov do not,
and organic visits are never a channel."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.lib.attribution import report
from dagster_project.lib.attribution.journeys import BASELINE
from tests.attribution.bars import broken_bars
from tests.attribution.outside_journeys import CHANNELS, EFFECT, generate


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory):
    """The generated world, its export files and the credit `mopt attribute` wrote."""
    world = generate()
    root = tmp_path_factory.mktemp("outside_journeys")
    world.touches.write_parquet(root / "touches.parquet")
    world.outcomes.write_csv(root / "outcomes.csv")
    world.features.write_parquet(root / "customer_features.parquet")
    result = CliRunner().invoke(
        app,
        [
            "attribute",
            "--touches", str(root / "touches.parquet"),
            "--outcomes", str(root / "outcomes.csv"),
            "--customer-features", str(root / "customer_features.parquet"),
            "--out", str(root / "out"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    credit = pl.read_parquet(root / "out/credit.parquet")
    check = report.truth_check(credit, world.truth)
    return world, credit, {r["model"]: r for r in check.iter_rows(named=True)}


def test_the_generator_plants_what_the_test_needs(outside):
    world, _, _ = outside
    truth = {r["channel"]: r for r in world.truth.iter_rows(named=True)}
    for channel in CHANNELS:
        if EFFECT[channel] == 0:
            assert truth[channel]["incremental_orders"] == 0, channel
        else:
            assert truth[channel]["incremental_orders"] > 300, channel
    factual = truth["display"]["factual_orders"]
    assert 0.5 < truth["display"]["baseline_orders"] / factual < 0.9
    assert set(world.touches["channel"]) == {*CHANNELS, "direct"}
    direct = world.touches.filter(pl.col("channel") == "direct")
    assert direct.height > 0.25 * world.touches.height and set(direct["touch_type"]) == {"visit"}
    # conversion times are the journeys' as_of; the features carry a marketing-derived column
    assert world.outcomes.filter("converted").height == factual
    assert "days_since_last_touch" in world.features.columns
    again = generate()
    assert again.truth.equals(world.truth) and again.touches.equals(world.touches)


def test_incrementality_model_meets_the_bars_on_outside_journeys(outside):
    _, _, check = outside
    assert broken_bars(check["incrementality"]) == [], check["incrementality"]


@pytest.mark.parametrize("model", ["last_click", "markov_1", "time_decay", "shapley"])
def test_path_models_fail_the_same_bars(outside, model):
    _, _, check = outside
    broken = broken_bars(check[model])
    assert any(b.startswith("baseline error") for b in broken), check[model]
    assert any(b.startswith("zero-effect share") for b in broken), check[model]


def test_organic_visits_are_never_a_channel(outside):
    """`direct` visits get no credit in any model; journeys with organic visits only are the
    baseline's (for last click too)."""
    world, credit, _ = outside
    assert "direct" not in set(credit["channel"])
    marketing = (
        world.touches.filter(pl.col("channel") != "direct")
        .join(world.outcomes.select("journey_id", "as_of"), on="journey_id")
        .filter(pl.col("touched_at") >= pl.col("as_of") - timedelta(days=30))["journey_id"]
        .unique()
    )
    organic_only = world.outcomes.filter(
        pl.col("converted") & ~pl.col("journey_id").is_in(marketing.implode())
    ).height
    assert organic_only > 0
    last_click = credit.filter((pl.col("model") == "last_click") & (pl.col("scope") == "all"))
    assert last_click.filter(pl.col("channel") == BASELINE)["conversions"].sum() == organic_only


def test_incrementality_credit_is_never_negative(outside):
    _, credit, _ = outside
    inc = credit.filter(pl.col("model") == "incrementality", pl.col("channel") != BASELINE)
    assert inc["conversions"].min() >= 0 and inc["revenue"].min() >= 0
