"""The `mopt` commands people run by hand, through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.lib.warehouse import connect

runner = CliRunner()


def test_simulate_then_materialize_a_selection(tmp_path: Path, monkeypatch) -> None:
    raw = tmp_path / "raw"
    result = runner.invoke(
        app, ["simulate", "--customers", "200", "--days", "30", "--seed", "5", "--out", str(raw)]
    )
    assert result.exit_code == 0, result.output
    assert (raw / "truth" / "manifest.json").exists()

    monkeypatch.setenv("MOPT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MOPT_RAW_DIR", str(raw))
    monkeypatch.setenv("MOPT_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = runner.invoke(app, ["materialize", "--select", "group:landing"])
    assert result.exit_code == 0, result.output
    assert "materialized 16 assets" in result.output  # one per contract table

    orders = pl.read_parquet(raw / "orders" / "*.parquet")  # streamed: a file per day
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        assert con.execute("select count(*) from landing.orders").fetchone()[0] == len(orders)
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_tables()").fetchall()}
    assert schemas == {"landing"}  # the selection ran nothing downstream


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("simulate", "materialize", "demo", "bench", "policy"):
        assert command in result.output


BENCH_SUITES = (
    "foundation",
    "demo",
    "features",
    "models",
    "segments",
    "attribution",
    "budget",
    "products",
    "forecast",
    "ui",
)


def test_bench_lists_every_suite() -> None:
    result = runner.invoke(app, ["bench", "--help"])
    assert result.exit_code == 0, result.output
    for suite in BENCH_SUITES:
        assert suite in result.output


@pytest.mark.parametrize("suite", BENCH_SUITES)
def test_each_bench_suite_has_help(suite: str) -> None:
    result = runner.invoke(app, ["bench", suite, "--help"])
    assert result.exit_code == 0, result.output
    assert f"bench {suite} [OPTIONS]" in result.output


def test_policy_evaluate_rejects_a_bad_plan_naming_file_row_and_rule(tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text(
        "channel,week_start,spend\nsearch_ads,2025-03-03,1000\nsearch_ads,2025-03-10,-1\n"
    )
    result = runner.invoke(
        app,
        [
            "policy",
            "evaluate",
            "--plan",
            str(plan),
            "--start",
            "2025-03-03",
            "--days",
            "14",
            "--customers",
            "200",
            "--world-days",
            "28",
        ],
    )
    assert result.exit_code != 0
    assert f"{plan}: row 2 (search_ads, 2025-03-10, -1.0): negative spend" in str(result.exception)
