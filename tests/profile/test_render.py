"""Rendering a profile whose parts are all absent (what a customer of an orders-only export with
no scores yet looks like): every field shows as missing, the terminal and HTML views are still
written; the HTML page uses the report's stylesheet."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from rich.console import Console

from dagster_project.lib.display import MISSING
from dagster_project.lib.profile.gather import CustomerProfile, Scores
from dagster_project.lib.profile.render import (
    blocks,
    print_profile,
    report_style,
    spend_chart,
    write_html,
)


def _bare() -> CustomerProfile:
    return CustomerProfile(
        "C000001",
        None,
        "Asia/Seoul",
        scores=Scores(uplift_note="no coupon uplift model"),
        notes={"journey": "silver.int_sessions__attributed not built"},
    )


def test_a_bare_profile_shows_every_field_as_missing(tmp_path: Path) -> None:
    p = _bare()
    who, _, models, *_ = blocks(p)
    values = dict(who.pairs)
    assert values["region"] == values["browsing type"] == values["signed up"] == MISSING
    assert values["marketing / night consent"] == f"{MISSING} / {MISSING}"
    scores = dict(models.pairs)
    assert scores["p_buy (order)"] == scores["expected value (KRW)"] == MISSING
    assert scores["coupon uplift"] == f"{MISSING} (no coupon uplift model)"

    console = Console(record=True, width=120)
    print_profile(p, console)
    text = console.export_text()
    assert "Customer C000001" in text and "silver.int_sessions__attributed not built" in text
    page = write_html(p, tmp_path / "p.html", "test").read_text()
    assert "data:image/png" not in page  # no orders, no chart
    assert page.count("<section>") == len(blocks(p))


def test_money_rates_and_the_spend_chart() -> None:
    p = _bare()
    p.scores = Scores(p_buy=0.1234, expected_value_krw=1234567.8, horizon_days=30)
    p.monthly_spend = pl.DataFrame({"month": ["2025-05", "2025-06"], "revenue_krw": [1e5, 2e5]})
    p.as_of = date(2025, 6, 30)
    scores = dict(blocks(p)[2].pairs)
    assert scores["p_buy (order in 30 days)"] == "12.3 %"
    assert scores["expected value in 30 days (KRW)"] == "1,234,568"
    assert spend_chart(p)[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_reuses_the_report_stylesheet() -> None:
    style = report_style()
    assert "nav {" in style and ".figures" in style
