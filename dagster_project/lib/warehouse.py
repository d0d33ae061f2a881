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
    rel = con.sql(f"select * from {relation} limit {int(limit)}")
    header = "| " + " | ".join(rel.columns) + " |"
    rule = "| " + " | ".join("---" for _ in rel.columns) + " |"
    rows = [
        "| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rel.fetchall()
    ]
    return "\n".join([header, rule, *rows])
