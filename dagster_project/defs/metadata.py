"""Metadata values for asset pages, shared by every defs package: tables as Dagster table
metadata (typed schema, numbers formatted by lib/display.py, shown inline rather than behind
"Show Markdown") and charts as Markdown images (the UI renders `data:` PNGs in Markdown).

Plain helpers, no Definitions: load_from_defs_folder finds nothing to load here."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping

import dagster as dg
import polars as pl

from dagster_project.lib import display

# What each schema column says about the formatted text (the UI's "Show schema").
MONEY, RATE = "KRW", "percent"


def table(
    frame: pl.DataFrame,
    money: Iterable[str] = (),
    rates: Iterable[str] = (),
    digits: Mapping[str, int] | None = None,
    max_rows: int = 50,
) -> dg.MetadataValue:
    """`frame` (a summary: at most `max_rows` rows are shown) as table metadata."""
    money, rates = list(money), list(rates)
    shown = display.formatted(frame.head(max_rows), money, rates, digits)
    columns = []
    for name, dtype in frame.schema.items():
        if name in money or (name.endswith("_krw") and name not in rates):
            kind = MONEY
        elif name in rates or name.endswith(("_rate", "_share")):
            kind = RATE
        elif dtype.is_numeric():
            kind = "int" if dtype.is_integer() else "float"
        else:
            kind = "string"
        columns.append(dg.TableColumn(name, kind))
    return dg.MetadataValue.table(
        records=[dg.TableRecord(row) for row in shown.iter_rows(named=True)],
        schema=dg.TableSchema(columns=columns),
    )


def chart(png: bytes, title: str) -> dg.MetadataValue:
    """A PNG chart (lib/charts.py) as Markdown the UI renders (the image opens from the entry)."""
    data = base64.b64encode(png).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{data})")
