"""The policy lab against the simulator's own truth, on a small world: it reproduces the factual
world and the no-marketing world exactly, is deterministic, and rejects bad plans clearly; and
the planted response curves rise and saturate."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from dagster_project.lib.budget import lab
from dagster_project.lib.simulate import WorldConfig, simulate
from dagster_project.lib.simulate.params import PAID_CHANNELS

CFG = WorldConfig(customers=2_000, days=84, seed=3, start_date=date(2025, 3, 3))
START = CFG.start_date + timedelta(days=56)


@pytest.fixture(scope="module")
def world():
    return simulate(CFG)


def _period(truth: pl.DataFrame, start: date, days: int) -> pl.DataFrame:
    return truth.filter(pl.col("date") >= start, pl.col("date") < start + timedelta(days=days))


def test_current_plan_reproduces_the_factual_world_and_is_deterministic(world):
    plan = lab.current_plan(CFG, START, 28)
    doubled = plan.with_columns(pl.col("spend") * 2)
    first = lab.evaluate_plans(CFG, {"same": plan, "doubled": doubled}, START, 28)
    again = lab.evaluate_plans(CFG, {"same": plan, "doubled": doubled}, START, 28)
    assert first.equals(again)
    daily = _period(world.truth["daily"], START, 28)
    same = first.row(0, named=True)
    assert same["orders"] == daily["factual_orders"].sum()
    assert same["revenue"] == pytest.approx(daily["factual_revenue"].sum(), abs=0.01)
    assert same["inc_orders_vs_current"] == 0 and same["inc_profit_vs_current"] == 0
    # Money reconciles: the lab's paid spend is the plan, and the world's spend table agrees.
    assert same["paid_spend"] == pytest.approx(plan["spend"].sum(), abs=0.01)
    spend = _period(world.tables["marketing_spend"], START, 28).filter(
        pl.col("channel").is_in(list(PAID_CHANNELS))
    )
    assert spend["spend"].sum() == pytest.approx(plan["spend"].sum(), abs=0.01 * spend.height)
    # More spend buys more orders, at a positive incremental cost equal to the extra budget.
    d = first.row(1, named=True)
    assert d["inc_orders_vs_current"] > 0 and d["inc_orders_vs_current_lo"] > 0
    assert d["inc_cost_vs_current"] >= plan["spend"].sum() - 1


def test_lab_no_marketing_is_the_simulators_no_marketing_world(world):
    start = CFG.start_date
    zero = lab.current_plan(CFG, start, 28).with_columns(spend=pl.lit(0.0))
    out = lab.evaluate_plans(CFG, {"paid off": zero}, start, 28).row(0, named=True)
    daily = _period(world.truth["daily"], start, 28)
    # Paid spend off leaves CRM on, so it earns at least the no-marketing world; against the
    # lab's own no-marketing reference the difference is CRM alone (and never the whole).
    base = daily["no_marketing_orders"].sum()
    assert out["orders"] - out["inc_orders_vs_none"] == base
    assert out["orders"] < daily["factual_orders"].sum()


def test_response_curves_rise_and_saturate(world):
    curves = world.truth["response_curves"].sort("channel", "spend_scale")
    params = world.truth["channel_response_params"]
    assert set(curves["channel"]) == set(PAID_CHANNELS) == set(params["channel"])
    for ch in ("search_ads", "social", "retargeting"):
        c = curves.filter(pl.col("channel") == ch)
        orders = c["incremental_orders"].to_numpy()
        spend = c["weekly_spend"].to_numpy()
        assert (orders[1:] >= orders[:-1]).all(), ch
        slope = (orders[1:] - orders[:-1]) / (spend[1:] - spend[:-1])
        assert slope[-1] < slope[0], ch  # diminishing returns
    zero = curves.filter(pl.col("channel") == "display")["incremental_orders"]
    assert (zero == 0).all()  # a zero-effect channel buys nothing at any spend


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.with_columns(channel=pl.lit("tv")).head(1), "row 1 (tv, "),
        (
            lambda p: p.with_columns(
                spend=pl.when(pl.int_range(pl.len()) == 2).then(-5.0).otherwise("spend")
            ),
            "row 3 (search_ads",
        ),
        (
            lambda p: p.filter(pl.col("week_start") != START + timedelta(days=7)),
            "has no row for week(s) 2025-05-05: missing weeks",
        ),
        (
            lambda p: p.with_columns(week_start=pl.col("week_start") + timedelta(days=1)),
            "week_start not a week of the period",
        ),
        (lambda p: p.drop("spend"), "missing column(s) ['spend']"),
    ],
)
def test_bad_plan_names_the_file_row_and_rule(change, message):
    plan = change(lab.current_plan(CFG, START, 28))
    with pytest.raises(lab.PlanError) as err:
        lab.plan_daily_spend(plan, START, 28, "plan.csv")
    assert str(err.value).startswith("plan.csv: ") and message in str(err.value)


def test_negative_spend_rule_is_named():
    plan = lab.current_plan(CFG, START, 28).with_columns(
        spend=pl.when(pl.int_range(pl.len()) == 2).then(-5.0).otherwise("spend")
    )
    with pytest.raises(lab.PlanError, match=r"row 3 .*negative spend"):
        lab.plan_daily_spend(plan, START, 28, "plan.csv")


def test_period_off_the_world_weeks_is_rejected():
    with pytest.raises(lab.PlanError, match="week start of the world"):
        lab.current_plan(CFG, START - timedelta(days=6), 28)
    with pytest.raises(lab.PlanError, match="inside the world's window"):
        lab.current_plan(CFG, START, 35)


def test_plan_file_error_names_the_file(tmp_path):
    path = tmp_path / "plan.csv"
    lab.current_plan(CFG, START, 28).with_columns(
        channel=pl.when(pl.int_range(pl.len()) == 4).then(pl.lit("tv")).otherwise("channel")
    ).write_csv(path)
    with pytest.raises(lab.PlanError, match=r"plan.csv: row 5 \(tv, .*unknown channel"):
        lab.plan_daily_spend(lab.read_plan(path), START, 28, str(path))
