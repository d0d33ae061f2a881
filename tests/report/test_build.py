"""The report's pages on a warehouse without the tables they read (e.g. before the first run):
every page is written and says what it misses, none fails."""

from __future__ import annotations

from pathlib import Path

import duckdb

from dagster_project.lib.report.build import AREAS, write_report


def test_every_page_says_what_is_missing_on_an_empty_warehouse(tmp_path: Path) -> None:
    con = duckdb.connect()
    for schema in ("silver", "gold"):
        con.execute(f"create schema {schema}")
    pages = write_report(con, tmp_path / "no_models", tmp_path / "report", "empty")
    assert [p.name for p in pages] == ["index.html", *(f"{a.__name__[:-5]}.html" for a in AREAS)]
    for page in pages[1:]:
        html = page.read_text()
        assert "Not available: " in html and "<img" not in html, page.name
    budget = (tmp_path / "report" / "budget.html").read_text()
    assert "gold.response_curves is not in the warehouse" in budget
    forecast = (tmp_path / "report" / "forecast.html").read_text()
    assert "gold.demand_forecast is not in the warehouse" in forecast
