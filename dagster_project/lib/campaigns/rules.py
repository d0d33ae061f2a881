"""Segment rules -> Polars expressions over known columns. A rule is never spliced into SQL:
it becomes an expression tree whose leaves are `pl.col(<known column>)` compared with literal
values of the column's type.

Grammar (YAML):
    rule := {all: [rule, ...]} | {any: [rule, ...]} | {not: rule}
          | {column: <name>, op: <op>, value: <value>}
    a list of rules is the same as {all: [...]}

Operators: == != < <= > >= (one value), in / not_in (a non-empty list), between (two values,
inclusive), is_null / is_not_null (no value). Comparisons (< <= > >= between) need a number or
date column."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import polars as pl

NUMBER, STRING, BOOL, DATE = "number", "string", "bool", "date"

# The columns a rule may use, by source table, with their kind. Adding a column is one line.
CUSTOMER_COLUMNS = {  # gold.dim_customers
    "gender": STRING,
    "age_band": STRING,
    "region": STRING,
    "acquisition_channel": STRING,
    "has_marketing_consent": BOOL,
    "has_night_consent": BOOL,
    "time_zone": STRING,  # null: the business time zone (audience.send_times)
    "signed_up_date": DATE,
    "lifetime_orders": NUMBER,
    "lifetime_revenue_krw": NUMBER,
    "is_buyer": BOOL,
    "is_repeat_buyer": BOOL,
}
FEATURE_COLUMNS = {  # the newest gold.feat_customer__daily snapshot
    "tenure_days": NUMBER,
    "sessions_7d": NUMBER,
    "sessions_30d": NUMBER,
    "sessions_90d": NUMBER,
    "product_views_30d": NUMBER,
    "bookmarks_30d": NUMBER,
    "add_to_carts_7d": NUMBER,
    "add_to_carts_30d": NUMBER,
    "orders_30d": NUMBER,
    "orders_90d": NUMBER,
    "revenue_90d_krw": NUMBER,
    "days_since_last_visit": NUMBER,
    "days_since_last_order": NUMBER,
    "days_since_last_touch": NUMBER,
    "avg_order_value_krw": NUMBER,
    "coupon_order_share": NUMBER,
    "favourite_category_l1": STRING,
    "preferred_price_band": STRING,
}
SEGMENT_COLUMNS = {  # gold.customer_segments
    "rfm_segment": STRING,
    "r_score": NUMBER,
    "f_score": NUMBER,
    "m_score": NUMBER,
    "value_tier": STRING,
    "is_engaged": BOOL,
    "browsing_type": STRING,
    "top_category": STRING,
    "top_category_index": NUMBER,
}
SCORE_COLUMNS = {  # gold.customer_scores (purchase-probability and LTV models), when present
    "p_buy": NUMBER,
    "expected_value_krw": NUMBER,
}
# gold.coupon_uplift_scores (rule column -> its column there): the table exists only while the
# coupon uplift model's held-out Qini is above random (asset check qini_above_random).
UPLIFT_COLUMNS = {"coupon_uplift": NUMBER, "coupon_uplift_decile": NUMBER}
UPLIFT_SOURCE = {"coupon_uplift": "uplift", "coupon_uplift_decile": "uplift_decile"}
# gold.demand_dip_targets (forecast): the customer's earliest upcoming dip, when they are a target.
DIP_COLUMNS = {"dip_category": STRING, "dip_date": DATE, "dip_preference_index": NUMBER}
KNOWN_COLUMNS: dict[str, str] = {
    **CUSTOMER_COLUMNS,
    **FEATURE_COLUMNS,
    **SEGMENT_COLUMNS,
    **SCORE_COLUMNS,
    **UPLIFT_COLUMNS,
    **DIP_COLUMNS,
}
OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "between", "is_null", "is_not_null")
ORDERED = (NUMBER, DATE)


class RuleError(ValueError):
    """A segment rule that cannot be parsed: names the campaign file and the rule."""


def _value(value: Any, kind: str, fail) -> Any:
    if kind == NUMBER and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):  # NaN sorts above every number: `< .nan` matches everyone
            fail(f"value {value!r} is not a finite number")
        return value
    if kind == STRING and isinstance(value, str):
        return value
    if kind == BOOL and isinstance(value, bool):
        return value
    if kind == DATE:
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
    fail(f"value {value!r} ({type(value).__name__}) does not fit the {kind} column")


def parse_rule(rule: Any, source: str, known: dict[str, str] | None = None) -> pl.Expr:
    """The Polars expression of `rule`; `source` (the campaign file) is named in every error."""
    known = KNOWN_COLUMNS if known is None else known
    return _parse(rule, source, known, "segment")


def _parse(rule: Any, source: str, known: dict[str, str], path: str) -> pl.Expr:
    def fail(msg: str):
        raise RuleError(f"{source}: rule {path} {_show(rule)}: {msg}")

    if isinstance(rule, list):
        rule = {"all": rule}
    if not isinstance(rule, dict):
        fail("a rule is a mapping (all / any / not, or column + op + value) or a list of rules")
    groups = [k for k in ("all", "any", "not") if k in rule]
    if groups:
        if len(rule) != 1:
            fail(f"{groups[0]!r} must be the rule's only key, found {sorted(rule)}")
        key = groups[0]
        if key == "not":
            return ~_parse(rule["not"], source, known, f"{path}.not")
        parts = rule[key]
        if not isinstance(parts, list) or not parts:
            fail(f"{key!r} needs a non-empty list of rules")
        exprs = [_parse(r, source, known, f"{path}.{key}[{i}]") for i, r in enumerate(parts)]
        return pl.all_horizontal(exprs) if key == "all" else pl.any_horizontal(exprs)

    extra = set(rule) - {"column", "op", "value"}
    if extra or "column" not in rule or "op" not in rule:
        fail("a condition has exactly the keys column, op and (except for is_null) value")
    column, op = rule["column"], rule["op"]
    if column not in known:
        fail(f"unknown column {column!r} (known: {', '.join(sorted(known))})")
    if op not in OPERATORS:
        fail(f"unknown operator {op!r} (known: {', '.join(OPERATORS)})")
    kind, col = known[column], pl.col(column)
    if op in ("is_null", "is_not_null"):
        if "value" in rule:
            fail(f"{op} takes no value")
        return col.is_null() if op == "is_null" else col.is_not_null()
    if "value" not in rule:
        fail(f"{op} needs a value")
    value = rule["value"]
    if op in ("<", "<=", ">", ">=", "between") and kind not in ORDERED:
        fail(f"{op} needs a number or date column; {column!r} is {kind}")
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            fail(f"{op} needs a non-empty list of values")
        values = [_value(v, kind, fail) for v in value]
        return col.is_in(values) if op == "in" else ~col.is_in(values)
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            fail("between needs a list of two values [low, high]")
        low, high = (_value(v, kind, fail) for v in value)
        return col.is_between(low, high, closed="both")
    if isinstance(value, list | dict):
        fail(f"{op} needs one value, not a {type(value).__name__}")
    v = _value(value, kind, fail)
    return {
        "==": col == v,
        "!=": col != v,
        "<": col < v,
        "<=": col <= v,
        ">": col > v,
        ">=": col >= v,
    }[op]


def rule_columns(rule: Any) -> set[str]:
    """The columns a (valid) rule refers to."""
    if isinstance(rule, list):
        return set().union(*(rule_columns(r) for r in rule)) if rule else set()
    if not isinstance(rule, dict):
        return set()
    for key in ("all", "any"):
        if key in rule and isinstance(rule[key], list):
            return rule_columns(rule[key])
    if "not" in rule:
        return rule_columns(rule["not"])
    return {rule["column"]} if isinstance(rule.get("column"), str) else set()


def _show(rule: Any) -> str:
    text = repr(rule)
    return text if len(text) <= 160 else text[:157] + "..."
