"""Small read helpers over the DuckDB warehouse, shared by assets and the CLI."""

from __future__ import annotations

from pathlib import Path

import duckdb


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection whose session time zone is UTC, as the contract's timestamps are."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")
    return con


def row_count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    return con.execute(f"select count(*) from {relation}").fetchone()[0]


def preview_markdown(con: duckdb.DuckDBPyConnection, relation: str, limit: int = 5) -> str:
    """The first rows of a relation as a Markdown table (for the Dagster UI)."""
    return markdown_table(con.sql(f"select * from {relation} limit {int(limit)}").pl())


def markdown_table(frame) -> str:
    """A Polars frame as a Markdown table (for the Dagster UI)."""
    header = "| " + " | ".join(frame.columns) + " |\n| " + " | ".join("---" for _ in frame.columns)
    rows = "".join("\n| " + " | ".join(str(v) for v in row) + " |" for row in frame.iter_rows())
    return header + " |" + rows
