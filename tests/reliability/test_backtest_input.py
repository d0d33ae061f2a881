"""`mopt backtest` on hostile orders files: the same rules as ingestion. A number that is not
finite, or too large for money to stay exact, an empty file, a ragged row: exit 2 with the file,
the row and the rule, never a traceback or a run on bad numbers. A semicolon-separated export is
read like a comma-separated one (ingestion detects the separator too)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.lib.models.orders import OrdersFileError, read_orders

HEADER = "customer_id,ordered_at,order_amount\n"
GOOD = "C1,2025-01-01,100\nC2,2025-01-02,50\n"


def backtest(path: Path, tmp_path: Path):
    return CliRunner().invoke(
        app, ["backtest", "--orders", str(path), "--cutoff", "2025-02-01", "--out", str(tmp_path)]
    )


@pytest.mark.parametrize(
    ("amount", "rule"),
    [
        ("NaN", "order_amount must be a finite number"),
        ("inf", "order_amount must be a finite number"),
        ("-inf", "order_amount must be a finite number"),
        ("1e309", "order_amount must be a finite number"),
        ("1e308", "order_amount must be at most 1e+11 (contract_money_max)"),
        # The warehouse's contract quarantines it (test_contract_rules): both paths share one limit.
        ("2e11", "order_amount must be at most 1e+11 (contract_money_max)"),
    ],
)
def test_amounts_that_are_not_money_stop_with_file_row_and_rule(
    tmp_path: Path, amount: str, rule: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + GOOD + f"C3,2025-01-03,{amount}\n")
    result = backtest(path, tmp_path)
    assert result.exit_code == 2, result.output
    assert f"orders.csv: row 3: {rule}" in result.output
    assert "Traceback" not in result.output


def test_non_finite_amounts_in_parquet_are_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "ordered_at": ["2025-01-01", "2025-01-02", "2025-01-03"],
            "order_amount": [10.0, float("nan"), float("inf")],
        }
    ).write_parquet(path)
    with pytest.raises(
        OrdersFileError, match=r"row 2: order_amount must be a finite number.*2 row"
    ):
        read_orders(path)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", "the file is empty"),
        ("\n", "the file is empty"),
        (HEADER, "no order rows"),
    ],
)
def test_an_empty_file_stops_with_exit_2(tmp_path: Path, text: str, rule: str) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(text)
    result = backtest(path, tmp_path)
    assert result.exit_code == 2, result.output
    assert f"orders.csv: {rule}" in result.output


def test_a_semicolon_file_reads_like_a_comma_file(tmp_path: Path) -> None:
    comma, semicolon = tmp_path / "comma.csv", tmp_path / "semicolon.csv"
    comma.write_text(HEADER + GOOD)
    semicolon.write_text((HEADER + GOOD).replace(",", ";"))
    assert read_orders(semicolon).equals(read_orders(comma))
    # and its bad rows are named like any other file's
    semicolon.write_text((HEADER + GOOD + "C3,2025-01-03,NaN\n").replace(",", ";"))
    result = backtest(semicolon, tmp_path)
    assert result.exit_code == 2, result.output
    assert "semicolon.csv: row 3: order_amount must be a finite number" in result.output


def test_a_ragged_row_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + GOOD + "C3,2025-01-03,10,extra\n")
    result = backtest(path, tmp_path)
    assert result.exit_code == 2, result.output
    assert "orders.csv" in result.output and "line 4" in result.output
