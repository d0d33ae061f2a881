"""Numbers as people read them (lib/display.py), tables as Dagster table metadata and charts as
PNGs the UI and the report embed (defs/metadata.py, lib/charts.py)."""

from __future__ import annotations

import math
import struct

import polars as pl

from dagster_project.defs import metadata as md
from dagster_project.lib import charts, display


def test_money_rates_and_missing_values_are_formatted_for_reading() -> None:
    assert display.money(134708040.0) == "134,708,040"
    assert display.money(1234.5) == "1,234"  # banker's rounding of .5 is fine for won
    assert display.rate(0.12111258503116865) == "12.1 %"
    for missing in (None, math.nan, math.inf):
        assert display.money(missing) == display.rate(missing) == display.MISSING
    assert display.number(0.0, 2) == "0.00"  # a real zero stays a zero


def test_formatted_frame_uses_column_names_and_never_turns_nan_into_zero() -> None:
    frame = pl.DataFrame(
        {
            "channel": ["email", None],
            "spend_krw": [134708040.0, math.nan],
            "ctr": [0.121, None],
            "orders": [1234, 5],
            "roas": [1.23456, math.nan],
        }
    )
    out = display.formatted(frame, rate_columns=["ctr"])
    assert out.rows() == [
        ("email", "134,708,040", "12.1 %", "1,234", "1.23"),
        ("–", "–", "–", "5", "–"),
    ]


def test_table_metadata_has_a_typed_schema_and_formatted_records() -> None:
    frame = pl.DataFrame({"channel": ["sms"], "revenue_krw": [5e6], "cvr": [0.5], "n": [3]})
    value = md.table(frame, rates=["cvr"])
    assert [(c.name, c.type) for c in value.schema.columns] == [
        ("channel", "string"),
        ("revenue_krw", "KRW"),
        ("cvr", "percent"),
        ("n", "int"),
    ]
    assert value.records[0].data == {
        "channel": "sms",
        "revenue_krw": "5,000,000",
        "cvr": "50.0 %",
        "n": "3",
    }


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def test_charts_are_png_images_700_px_wide_and_embed_as_markdown() -> None:
    frame = pl.DataFrame(
        {
            "campaign_id": ["a", "b", "c"],
            "diff": [0.05, -0.02, math.nan],
            "low": [0.01, -0.05, math.nan],
            "high": [0.09, 0.01, math.nan],
            "verdict": ["effective", "inconclusive", None],
        }
    )
    pngs = [
        charts.grouped_bars(frame, "campaign_id", ["diff", "high"], "t", "x", percent=True),
        charts.intervals(frame, "campaign_id", "diff", "low", "high", "t", "x", "verdict"),
        charts.calibration(
            pl.DataFrame({"p": [0.1, 0.5], "o": [0.12, 0.4]}), "p", "o", "calibration"
        ),
    ]
    for png in pngs:
        width, height = _png_size(png)
        assert width == charts.WIDTH_IN * charts.DPI and height >= 200
    assert md.chart(pngs[0], "t").value.startswith("![t](data:image/png;base64,iVBOR")


def test_axis_ticks_keep_the_decimals_small_values_need() -> None:
    # MASE and ROAS axes run from 0 to 2 or 3: whole-number ticks read "0 0 0 1 1 1 2".
    ticks = [0.0, 0.25, 0.5, 1.0, 1.75, 2.0, 150.0, 1234567.8]
    assert [charts._tick(v) for v in ticks] == [
        "0",
        "0.25",
        "0.5",
        "1",
        "1.75",
        "2",
        "150",
        "1,234,568",
    ]
