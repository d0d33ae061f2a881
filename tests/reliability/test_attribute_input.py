"""`mopt attribute` on hostile files: every bad input exits 2 naming the file, the row and the
rule (or the option), never a traceback or a silent zero."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dagster_project.cli import app

runner = CliRunner()
TOUCHES = "journey_id,touched_at,channel\nJ1,2025-05-01T10:00:00Z,search_ads\n"
OUTCOMES = "journey_id,converted,revenue\nJ1,true,100\n"


def attribute(tmp_path: Path, touches: str, outcomes: str, *options: str):
    (tmp_path / "touches.csv").write_text(touches)
    (tmp_path / "outcomes.csv").write_text(outcomes)
    args = ["attribute", "--touches", str(tmp_path / "touches.csv")]
    args += ["--outcomes", str(tmp_path / "outcomes.csv"), "--out", str(tmp_path / "out")]
    return runner.invoke(app, [*args, *options])


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        ("journey_id,converted,revenue\nJ1,true,abc\n", "row 1: revenue must be a number"),
        ("journey_id,converted,revenue\nJ1,true,NaN\n", "row 1: revenue must be a finite number"),
        ("journey_id,converted,revenue\nJ1,true,inf\n", "row 1: revenue must be a finite number"),
        ("", "outcomes.csv: the file is empty"),
    ],
)
def test_bad_outcomes_name_the_file_row_and_rule(tmp_path: Path, outcomes: str, message) -> None:
    result = attribute(tmp_path, TOUCHES, outcomes)
    assert result.exit_code == 2, result.output
    assert message in result.output and "outcomes.csv" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_bad_value_after_row_10000_is_a_row_error(tmp_path: Path) -> None:
    rows = "".join(f"J{n},true,100\n" for n in range(10_500))
    outcomes = "journey_id,converted,revenue\n" + rows + "J_last,true,abc\n"
    touches = "journey_id,touched_at,channel\n" + "".join(
        f"J{n},2025-05-01T10:00:00Z,search_ads\n" for n in range(10_500)
    )
    result = attribute(tmp_path, touches, outcomes)
    assert result.exit_code == 2, result.output
    assert "row 10501: revenue must be a number" in result.output


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--timezone", "Mars/Base"], "'Mars/Base' is not an IANA time zone"),
        (["--markov-orders", "1,x"], "'1,x': integers"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, option: list[str], message: str) -> None:
    result = attribute(tmp_path, TOUCHES, OUTCOMES, *option)
    assert result.exit_code == 2
    assert message in result.output


def test_a_trailing_space_does_not_make_a_new_channel(tmp_path: Path) -> None:
    touches = TOUCHES + "J2,2025-05-01T10:00:00Z,search_ads \n"
    result = attribute(tmp_path, touches, OUTCOMES + "J2,true,50\n")
    assert result.exit_code == 0, result.output
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "2 touches, channels: search_ads." in summary
