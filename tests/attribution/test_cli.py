"""`mopt attribute` on a tracking export: the credit tables, and clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.lib.attribution.journeys import FUNNEL_STAGES, journeys_from_warehouse
from dagster_project.lib.warehouse import connect

runner = CliRunner()


def export(world: Path, out: Path) -> tuple[Path, Path, Path]:
    """The world's journeys as a tracking export (touches.parquet, outcomes.csv, features)."""
    with connect(world / "warehouse.duckdb", read_only=True) as con:
        jr = journeys_from_warehouse(con)
        con.execute(
            f"copy gold.feat_customer__daily to '{out / 'features.parquet'}' (format parquet)"
        )
    stages = dict(enumerate(FUNNEL_STAGES))
    jr.touches.join(jr.journeys.select("j", "journey_id"), on="j").select(
        "journey_id",
        "touched_at",
        "channel",
        "campaign_id",
        "touch_type",
        funnel_stage=pl.col("funnel_stage").replace_strict(stages, return_dtype=pl.Utf8),
    ).write_parquet(out / "touches.parquet")
    jr.journeys.select("journey_id", "converted", "revenue", "customer_id", "as_of").write_csv(
        out / "outcomes.csv"
    )
    return out / "touches.parquet", out / "outcomes.csv", out / "features.parquet"


def test_attribute_writes_every_model_credit(small_world: Path, tmp_path: Path):
    touches, outcomes, features = export(small_world, tmp_path)
    result = runner.invoke(
        app,
        [
            "attribute",
            "--touches", str(touches),
            "--outcomes", str(outcomes),
            "--customer-features", str(features),
            "--out", str(tmp_path / "out"),
            "--timezone", "Asia/Seoul",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    credit = pl.read_parquet(tmp_path / "out/credit.parquet")
    converted = pl.read_csv(outcomes).filter("converted")
    totals = (
        credit.filter(pl.col("scope") == "all").group_by("model").agg(pl.col("conversions").sum())
    )
    assert totals.height == 11
    assert totals["conversions"].to_list() == pytest.approx([converted.height] * 11)
    assert (tmp_path / "out/summary.md").read_text().startswith("# Attribution")
    assert set(credit["scope"]) == {"all", "first", "repeat"}


def write(path: Path, frame: pl.DataFrame) -> Path:
    frame.write_csv(path)
    return path


@pytest.mark.parametrize(
    ("touches", "outcomes", "message", "bad_file"),
    [
        (
            {"journey_id": ["J1"], "touched_at": ["2025-05-01T00:00:00Z"]},
            {"journey_id": ["J1"], "converted": [1], "revenue": [10]},
            "missing required column(s) channel",
            "touches.csv",
        ),
        (
            {"journey_id": ["J1", "J2"], "touched_at": ["2025-05-01T00:00:00Z"] * 2,
             "channel": ["a", "b"]},
            {"journey_id": ["J1"], "converted": [1], "revenue": [10]},
            "row 2: journey_id must appear in the outcomes",
            "touches.csv",
        ),
        (
            {"journey_id": ["J1"], "touched_at": ["2025-05-01T00:00:00Z"], "channel": ["a"]},
            {"journey_id": ["J1", "J2"], "converted": [1, 0], "revenue": [10, 5]},
            "row 2: a journey that did not convert has no revenue",
            "outcomes.csv",
        ),
        (
            {"journey_id": ["J1"], "touched_at": ["yesterday"], "channel": ["a"]},
            {"journey_id": ["J1"], "converted": [1], "revenue": [10]},
            "row 1: touched_at must be a timestamp",
            "touches.csv",
        ),
    ],
)  # fmt: skip
def test_bad_input_names_the_file_row_and_rule(tmp_path, touches, outcomes, message, bad_file):
    t = write(tmp_path / "touches.csv", pl.DataFrame(touches))
    o = write(tmp_path / "outcomes.csv", pl.DataFrame(outcomes))
    result = runner.invoke(
        app, ["attribute", "--touches", str(t), "--outcomes", str(o), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert message in result.output
    assert f"{tmp_path / bad_file}: " in result.output
