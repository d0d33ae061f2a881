"""Attributed ROAS and CAC count all the spend: hand-built credit and spend with known answers."""

from __future__ import annotations

import polars as pl
import pytest

from dagster_project.lib.attribution import report
from dagster_project.lib.attribution.journeys import BASELINE

CREDIT_SCHEMA = {
    "model": pl.String,
    "scope": pl.String,
    "channel": pl.String,
    "campaign_id": pl.String,
    "conversions": pl.Float64,
    "revenue": pl.Float64,
}


def _credit(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CREDIT_SCHEMA, orient="row")


def _spend(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"channel": pl.String, "campaign_id": pl.String, "spend_krw": pl.Float64},
        orient="row",
    )


def _row(frame: pl.DataFrame, **keys) -> dict:
    return frame.row(
        by_predicate=pl.all_horizontal(pl.col(k) == v for k, v in keys.items()), named=True
    )


def test_uncredited_campaign_keeps_its_spend_in_channel_roas() -> None:
    # One search campaign earns 100 on 10 spend; the other spent 1,000 and the model credits it
    # with nothing. The channel's ROAS is 100 / 1,010, not 100 / 10.
    credit = _credit([("last_click", "all", "search_ads", "s1", 1.0, 100.0)])
    spend = _spend([("search_ads", "s1", 10.0), ("search_ads", "s2", 1_000.0)])
    roas = report.attributed_roas(credit, spend)
    s2 = _row(roas, campaign_id="s2")
    assert (s2["conversions"], s2["revenue"], s2["spend_krw"], s2["roas"]) == (
        0.0,
        0.0,
        1000.0,
        0.0,
    )
    assert _row(roas, campaign_id="s1")["roas"] == pytest.approx(10.0)
    channel = _row(report.roas_by_channel(roas), model="last_click", channel="search_ads")
    assert channel["spend_krw"] == 1_010.0
    assert channel["roas"] == pytest.approx(100 / 1_010)  # 0.099
    # CAC counts the same spend: one first purchase (scope 'first') for 1,010 KRW.
    first = _credit(
        [
            ("last_click", "all", "search_ads", "s1", 1.0, 100.0),
            ("last_click", "first", "search_ads", "s1", 1.0, 100.0),
        ]
    )
    by_channel = report.roas_by_channel(report.attributed_roas(first, spend))
    assert _row(by_channel, channel="search_ads")["cac_krw"] == 1_010.0


def test_every_model_and_scope_carries_every_spend_row() -> None:
    credit = _credit(
        [
            ("last_click", "all", "search_ads", "s1", 2.0, 200.0),
            ("last_click", "first", "search_ads", "s1", 1.0, 80.0),
            ("markov_1", "all", "display", "d1", 1.5, 150.0),
            # A model that credits every conversion to the baseline still reports the spend.
            ("incrementality", "all", BASELINE, None, 3.5, 350.0),
        ]
    )
    spend = _spend([("search_ads", "s1", 40.0), ("display", "d1", 300.0), ("social", "x1", 60.0)])
    roas = report.attributed_roas(credit, spend)
    totals = roas.group_by("model", "scope").agg(pl.col("spend_krw").sum(), rows=pl.len())
    assert totals.sort("model", "scope").rows() == [
        ("incrementality", "all", 400.0, 3),
        ("last_click", "all", 400.0, 3),
        ("last_click", "first", 400.0, 3),
        ("markov_1", "all", 400.0, 3),
    ]
    assert BASELINE not in roas["channel"].to_list()
    lc = _row(roas, model="last_click", scope="all", campaign_id="s1")
    # CAC: spend per first-purchase conversion (the 'first' scope), cost per conversion per all.
    assert (lc["cac_krw"], lc["cost_per_conversion_krw"], lc["roas"]) == (40.0, 20.0, 5.0)
    social = _row(roas, model="markov_1", scope="all", campaign_id="x1")
    assert social["roas"] == 0.0 and social["cac_krw"] is None
    rec = report.spend_reconciliation(roas, spend_total_krw=400.0)
    assert rec["reconciled"].all() and rec.height == 4


def test_credit_without_spend_stays_with_null_roas() -> None:
    credit = _credit(
        [
            ("last_click", "all", "email", "e1", 2.0, 50.0),
            ("last_click", "all", "affiliate", None, 1.0, 30.0),  # a touch with no campaign
            ("last_click", "first", "affiliate", None, 1.0, 30.0),
        ]
    )
    roas = report.attributed_roas(credit, _spend([("search_ads", "s1", 10.0)]))
    email = _row(roas, scope="all", channel="email")
    assert (email["revenue"], email["spend_krw"], email["roas"]) == (50.0, 0.0, None)
    untagged = roas.filter(pl.col("scope") == "all", pl.col("channel") == "affiliate")
    assert untagged.height == 1 and untagged["campaign_id"][0] is None
    # The first-scope conversion joins its null-campaign row (nulls match nulls here).
    assert untagged["first_conversions"][0] == 1.0
    assert roas["roas"].is_infinite().sum() == 0


def test_reconciliation_flags_a_table_that_lost_spend() -> None:
    credit = _credit([("last_click", "all", "search_ads", "s1", 1.0, 100.0)])
    spend = _spend([("search_ads", "s1", 10.0), ("search_ads", "s2", 1_000.0)])
    roas = report.attributed_roas(credit, spend)
    lost = roas.filter(pl.col("campaign_id") != "s2")
    rec = report.spend_reconciliation(lost, spend_total_krw=1_010.0)
    assert rec.select("spend_krw", "difference_krw", "reconciled").row(0) == (10.0, -1_000.0, False)
