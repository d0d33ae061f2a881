from __future__ import annotations

import polars as pl
import pytest

from dagster_project.lib.campaigns.rules import KNOWN_COLUMNS, RuleError, parse_rule, rule_columns

FRAME = pl.DataFrame(
    {
        "customer_id": ["A", "B", "C", "D"],
        "rfm_segment": ["at_risk", "champions", "at_risk", None],
        "days_since_last_order": [50, 3, None, 200],
        "has_night_consent": [True, False, True, False],
        "browsing_type": ["mania", "meticulous", "easygoing", "mania"],
    }
)


def matches(rule) -> list[str]:
    expr = parse_rule(rule, "campaigns/x.yml")
    return FRAME.filter(expr.fill_null(False))["customer_id"].to_list()


def test_conditions_and_groups() -> None:
    assert matches({"column": "rfm_segment", "op": "==", "value": "at_risk"}) == ["A", "C"]
    assert matches({"column": "days_since_last_order", "op": ">=", "value": 50}) == ["A", "D"]
    assert matches({"column": "days_since_last_order", "op": "between", "value": [3, 50]}) == [
        "A",
        "B",
    ]
    assert matches({"column": "browsing_type", "op": "not_in", "value": ["mania"]}) == ["B", "C"]
    assert matches({"column": "rfm_segment", "op": "is_null"}) == ["D"]
    assert matches(
        {
            "any": [
                {"column": "rfm_segment", "op": "==", "value": "champions"},
                {
                    "all": [
                        {"column": "has_night_consent", "op": "==", "value": True},
                        {"not": {"column": "browsing_type", "op": "==", "value": "easygoing"}},
                    ]
                },
            ]
        }
    ) == ["A", "B"]
    # A list is an implicit "all".
    assert matches(
        [
            {"column": "rfm_segment", "op": "==", "value": "at_risk"},
            {"column": "days_since_last_order", "op": "<", "value": 100},
        ]
    ) == ["A"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"column": "favourite_colour", "op": "==", "value": "red"},
            "unknown column 'favourite_colour'",
        ),
        ({"column": "rfm_segment", "op": "like", "value": "at%"}, "unknown operator 'like'"),
        ({"column": "days_since_last_order", "op": ">", "value": "30"}, r"value '30' \(str\)"),
        ({"column": "rfm_segment", "op": ">", "value": "a"}, "needs a number or date column"),
        ({"column": "rfm_segment", "op": "in", "value": "at_risk"}, "non-empty list"),
        ({"column": "has_night_consent", "op": "==", "value": 1}, "does not fit the bool column"),
        ({"column": "rfm_segment", "op": "is_null", "value": 1}, "takes no value"),
        ({"all": []}, "non-empty list of rules"),
        ({"all": [{"column": "x1", "op": "==", "value": 1}]}, r"rule segment.all\[0\]"),
        ({"column": "rfm_segment; drop table gold.x", "op": "==", "value": 1}, "unknown column"),
        ("rfm_segment = 'x'", "a rule is a mapping"),
        # NaN sorts above every number in Polars: `< .nan` would match every customer.
        ({"column": "days_since_last_order", "op": "<", "value": float("nan")}, "not a finite"),
        ({"column": "p_buy", "op": "between", "value": [0, float("inf")]}, "not a finite"),
    ],
)
def test_bad_rules_name_the_file_and_the_rule(rule, message) -> None:
    with pytest.raises(RuleError, match=message) as info:
        parse_rule(rule, "campaigns/winback.yml")
    assert str(info.value).startswith("campaigns/winback.yml: rule segment")


def test_known_columns_include_scores_and_rule_columns_are_found() -> None:
    assert KNOWN_COLUMNS["p_buy"] == "number"
    rule = {
        "any": [
            {"column": "p_buy", "op": ">", "value": 0.5},
            {"not": {"column": "value_tier", "op": "==", "value": "star"}},
        ]
    }
    assert rule_columns(rule) == {"p_buy", "value_tier"}
