"""Numbers as people read them, for tables on asset pages and in the report: money in whole won
with thousands separators, rates as percentages, NaN and nulls as missing (never 0)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import polars as pl

MISSING = "–"


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def money(value: float | None) -> str:
    """1234567.8 -> '1,234,568' (KRW has no minor unit)."""
    return MISSING if is_missing(value) else f"{value:,.0f}"


def rate(value: float | None, digits: int = 1) -> str:
    """0.12111 -> '12.1 %'."""
    return MISSING if is_missing(value) else f"{100 * value:,.{digits}f} %"


def number(value: float | None, digits: int = 2) -> str:
    """Counts without decimals, other numbers to `digits` decimals, with thousands separators."""
    if is_missing(value):
        return MISSING
    if isinstance(value, int) or float(value).is_integer() and digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def formatted(
    frame: pl.DataFrame,
    money_columns: Iterable[str] = (),
    rate_columns: Iterable[str] = (),
    digits: Mapping[str, int] | None = None,
) -> pl.DataFrame:
    """Every column as display text: the money and rate columns named, integers with thousands
    separators, other floats to `digits[column]` (default 2) decimals; text as it is. Columns
    ending in `_krw` count as money and `_rate`/`_share` as rates unless named otherwise. For
    summary tables (tens of rows): values are formatted one by one."""
    money_set, rate_set, digits = set(money_columns), set(rate_columns), dict(digits or {})

    def formatter(name: str, dtype: pl.DataType):
        if name in money_set or (name.endswith("_krw") and name not in rate_set):
            return money
        if name in rate_set or name.endswith(("_rate", "_share")):
            return rate
        if dtype.is_integer():
            return lambda v: number(v, 0)
        if dtype.is_float():
            places = digits.get(name, 2)
            return lambda v: number(v, places)
        return None

    out = []
    for name, dtype in frame.schema.items():
        fn = formatter(name, dtype)
        if fn is None:
            out.append(frame[name].cast(pl.String).fill_null(MISSING))
        else:
            values = [fn(v) for v in frame[name].to_list()]
            out.append(pl.Series(name, values, dtype=pl.String))
    return pl.DataFrame(out) if out else frame
