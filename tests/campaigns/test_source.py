"""The customer table rules run on, including the purchase-probability scores when
gold.customer_scores exists (the interface agreed with the scoring models)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from dagster_project.lib.campaigns import audience, source
from dagster_project.lib.campaigns.config import parse_campaign
from dagster_project.lib.warehouse import connect


def _warehouse(path: Path, with_scores: bool) -> None:
    with connect(path) as con:
        con.execute("create schema gold")
        con.execute(
            "create table gold.dim_customers as select * from (values"
            " ('A', true, false, 'F'), ('B', true, true, 'M'), ('C', false, true, 'F'))"
            " as t(customer_id, has_marketing_consent, has_night_consent, gender)"
        )
        if with_scores:
            con.execute(
                "create table gold.customer_scores as"
                " select * replace (p_buy::double as p_buy) from (values"
                " ('A', timestamp '2025-10-01', 30, 0.9, 50000.0),"
                " ('A', timestamp '2025-10-08', 30, 0.2, 10000.0),"
                " ('B', timestamp '2025-10-08', 30, 0.7, 80000.0),"
                " ('C', timestamp '2025-10-08', 30, 0.8, 90000.0))"
                " as t(customer_id, scored_at, horizon_days, p_buy, expected_value_krw)"
            )


RAW = {
    "channel": "kakaotalk",
    "send": {"time": "19:00"},
    "holdout_share": 0.0,
    "segment": {"column": "p_buy", "op": ">=", "value": 0.5},
}


def test_rules_use_the_newest_scores_when_the_table_exists(tmp_path: Path) -> None:
    _warehouse(tmp_path / "w.duckdb", with_scores=True)
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        customers = source.audience_source(con)
    assert customers.sort("customer_id")["p_buy"].to_list() == [0.2, 0.7, 0.8]
    campaign = parse_campaign(RAW, "campaigns/hot.yml", "hot")
    result = audience.build_audience(
        campaign, customers, audience.empty_history(), date(2025, 10, 9)
    )
    # A's newest score is 0.2; C has no marketing consent.
    assert result.assignments["customer_id"].to_list() == ["B"]
    assert result.assignments["sent_at"][0] == datetime(2025, 10, 9, 10, 0)


def test_a_score_rule_without_scores_names_the_file_and_the_table(tmp_path: Path) -> None:
    _warehouse(tmp_path / "w.duckdb", with_scores=False)
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        customers = source.audience_source(con)
    assert "p_buy" not in customers.columns
    campaign = parse_campaign(RAW, "campaigns/hot.yml", "hot")
    with pytest.raises(ValueError, match=r"campaigns/hot.yml: .* lacks column\(s\) p_buy"):
        audience.build_audience(campaign, customers, audience.empty_history(), date(2025, 10, 9))


UPLIFT_RAW = {**RAW, "segment": {"column": "coupon_uplift_decile", "op": ">=", "value": 9}}


def test_coupon_uplift_is_a_rule_column_only_while_the_model_passes(tmp_path: Path) -> None:
    # The uplift asset writes gold.coupon_uplift_scores only when the model's held-out Qini is
    # above random (and drops it otherwise): without the table the column does not exist.
    _warehouse(tmp_path / "w.duckdb", with_scores=False)
    campaign = parse_campaign(UPLIFT_RAW, "campaigns/persuadables.yml", "persuadables")
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        customers = source.audience_source(con)
    assert "coupon_uplift" not in customers.columns
    with pytest.raises(ValueError, match=r"persuadables.yml: .* coupon_uplift_decile .*qini"):
        audience.build_audience(campaign, customers, audience.empty_history(), date(2025, 10, 9))
    with connect(tmp_path / "w.duckdb") as con:
        con.execute(
            "create table gold.coupon_uplift_scores as select * from (values"
            " ('A', 0.05::double, 10), ('B', 0.01, 9), ('C', 0.09, 10))"
            " as t(customer_id, uplift, uplift_decile)"
        )
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        customers = source.audience_source(con)
    assert customers.sort("customer_id")["coupon_uplift"].to_list() == [0.05, 0.01, 0.09]
    result = audience.build_audience(
        campaign, customers, audience.empty_history(), date(2025, 10, 9)
    )
    assert result.assignments["customer_id"].to_list() == ["A", "B"]  # C: no consent


DIP_RAW = {**RAW, "segment": {"column": "dip_category", "op": "==", "value": "shoes"}}


def test_demand_dip_targets_are_rule_columns_once_the_forecast_lists_them(tmp_path: Path) -> None:
    _warehouse(tmp_path / "w.duckdb", with_scores=False)
    campaign = parse_campaign(DIP_RAW, "campaigns/shoes_dip.yml", "shoes_dip")
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        customers = source.audience_source(con)
    with pytest.raises(ValueError, match=r"shoes_dip.yml: .* dip_category .*demand_dip_targets"):
        audience.build_audience(campaign, customers, audience.empty_history(), date(2025, 10, 9))
    with connect(tmp_path / "w.duckdb") as con:
        # B is a target of two dips: the earliest (bags on 10-12) is the one a rule sees.
        con.execute(
            "create table gold.demand_dip_targets as select * from (values"
            " ('shoes', date '2025-10-14', 0.8, 'A', 90.0, 1),"
            " ('shoes', date '2025-10-14', 0.8, 'B', 70.0, 2),"
            " ('bags', date '2025-10-12', 0.7, 'B', 60.0, 1))"
            " as t(category_l1, date, dip_ratio, customer_id, preference_index, target_rank)"
        )
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        customers = source.audience_source(con).sort("customer_id")
    assert customers["dip_category"].to_list() == ["shoes", "bags", None]
    assert customers["dip_date"].to_list() == [date(2025, 10, 14), date(2025, 10, 12), None]
    result = audience.build_audience(
        campaign, customers, audience.empty_history(), date(2025, 10, 9)
    )
    assert result.assignments["customer_id"].to_list() == ["A"]
