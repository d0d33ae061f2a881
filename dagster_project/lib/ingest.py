"""Land raw export files in DuckDB ``landing.<table>`` exactly as read (all text), with load
metadata, so that bronze can type and check every row against the contract.

A table's files are ``<table>.csv``, ``<table>.parquet`` (optionally gzipped CSV) or any such
file inside a ``<table>/`` folder. Landing mirrors the export folder: the same content is skipped,
changed content replaces that file's earlier rows, and a file that is gone takes its rows with it
(so a file renamed, or re-exported as Parquet, is not counted twice) — except in a versioned table
(customers), whose rows are history: deleting the file of an opt-out must not undo it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.lib.contract import Table, tables

METADATA_COLUMNS = {
    "_source_file": "varchar",
    "_row_number": "bigint",
    "_load_id": "varchar",
    "_loaded_at": "timestamp",
}
SUFFIXES = (".csv", ".csv.gz", ".parquet")


class IngestError(ValueError):
    """A file that cannot be landed: names the file and what is wrong with it."""


@dataclass
class TableLoad:
    table: str
    files_loaded: list[str] = field(default_factory=list)
    files_unchanged: list[str] = field(default_factory=list)
    files_removed: dict[str, int] = field(default_factory=dict)  # file -> rows taken out
    files_kept: dict[str, int] = field(default_factory=dict)  # gone, rows kept as history
    rows_loaded: int = 0
    rows_in_landing: int = 0
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    missing_optional_columns: dict[str, list[str]] = field(default_factory=dict)


def find_files(raw_dir: Path, table: str) -> list[Path]:
    """The export files of one table, in a stable order."""
    candidates = [raw_dir / f"{table}{s}" for s in SUFFIXES]
    folder = raw_dir / table
    if folder.is_dir():
        candidates += sorted(p for p in folder.iterdir() if p.name.endswith(SUFFIXES))
    return [p for p in candidates if p.is_file()]


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_landing(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Create the landing table (all contract columns as text) and the load log if missing."""
    con.execute("create schema if not exists landing")
    cols = [f'"{c}" varchar' for c in table.column_names]
    cols += [f"{name} {dtype}" for name, dtype in METADATA_COLUMNS.items()]
    con.execute(f"create table if not exists landing.{table.name} ({', '.join(cols)})")
    # A warehouse landed before the contract gained an optional column gets it (as nulls).
    for c in table.column_names:
        con.execute(f'alter table landing.{table.name} add column if not exists "{c}" varchar')
    con.execute(
        "create table if not exists landing._loads (table_name varchar, source_file varchar,"
        " sha256 varchar, load_id varchar, loaded_at timestamp, rows bigint)"
    )


def unmatched_files(raw_dir: Path) -> list[str]:
    """Files in the export folder (or in a table's folder) that no table reads, such as a
    ``customers.tsv`` or a misspelt table name: ingestion warns about each."""
    matched = {p for name in tables() for p in find_files(raw_dir, name)}
    folders = [raw_dir / name for name in tables() if (raw_dir / name).is_dir()]
    entries = [*raw_dir.iterdir(), *(p for folder in folders for p in folder.iterdir())]
    return sorted(
        p.relative_to(raw_dir).as_posix()
        for p in entries
        if p not in matched and p not in folders and not p.name.startswith(".")
    )


def _csv_header(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            return [name.strip() for name in next(csv.reader(f), [])]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise IngestError(f"{path}: cannot be read: {e}") from e


def _reader(path: Path, columns: list[str]) -> str:
    if path.name.endswith(".parquet"):
        return "read_parquet(?, file_row_number = true)"
    # The dialect is fixed (RFC 4180: comma, double quotes) and every column is text, so nothing
    # is guessed from a sample: a quoted field first seen on row 25,001 reads like any other.
    types = ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}': 'varchar'" for c in columns)
    return (
        "read_csv(?, header = true, auto_detect = false, delim = ',', quote = '\"',"
        f" escape = '\"', columns = {{{types}}})"
    )


def _file_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    if not path.name.endswith(".parquet"):
        return _csv_header(path)
    try:
        return [
            d[0]
            for d in con.execute(
                f"select * from {_reader(path, [])} limit 0", [str(path)]
            ).description
        ]
    except duckdb.Error as e:
        raise IngestError(f"{path}: cannot be read: {e}") from e


def _read_error(path: Path, error: duckdb.Error) -> IngestError:
    """A clear error for a file DuckDB cannot read; a ragged row is named by its line."""
    ragged = re.search(
        r"Line: (\d+).*?Expected Number of Columns: (\d+) Found: (\d+)", str(error), re.S
    )
    if ragged:
        line, expected, found = ragged.groups()
        return IngestError(
            f"{path}: line {line} has {found} fields where the header has {expected}"
            " (a ragged row: an unquoted comma, or a missing or extra field)"
        )
    return IngestError(f"{path}: cannot be read: {error}")


def land_file(
    con: duckdb.DuckDBPyConnection, table: Table, path: Path, name: str, load_id: str
) -> tuple[int, list[str], list[str]]:
    """Insert one file's rows; returns (rows, ignored columns, missing optional columns)."""
    present = _file_columns(con, path)
    missing_required = [c for c in table.required_columns if c not in present]
    if missing_required:
        raise IngestError(
            f"{path}: table '{table.name}' lacks required column(s) {', '.join(missing_required)}"
            f" (the file has: {', '.join(present)})"
        )
    ignored = [c for c in present if c not in table.column_names and c != "file_row_number"]
    missing = [c for c in table.column_names if c not in present]
    select = [
        f'cast("{c}" as varchar)' if c in present else "cast(null as varchar)"
        for c in table.column_names
    ]
    targets = [f'"{c}"' for c in [*table.column_names, *METADATA_COLUMNS]]
    # Parquet gives its own 0-based row number; a CSV scan keeps file order, so number rows there.
    row_number = "file_row_number + 1" if path.name.endswith(".parquet") else "row_number() over ()"
    try:
        con.execute(
            f"insert into landing.{table.name} ({', '.join(targets)}) select {', '.join(select)},"
            f" ?, {row_number}, ?,"
            f" timezone('UTC', now()) from {_reader(path, present)}",
            [name, load_id, str(path)],
        )
    except duckdb.Error as e:
        raise _read_error(path, e) from e
    rows = con.execute(
        f"select count(*) from landing.{table.name} where _source_file = ?", [name]
    ).fetchone()[0]
    return rows, ignored, missing


def land_table(con: duckdb.DuckDBPyConnection, raw_dir: Path, table_name: str) -> TableLoad:
    """Land every file of one table (an absent table lands as an empty landing table)."""
    table = tables()[table_name]
    ensure_landing(con, table)
    report = TableLoad(table_name)
    paths = find_files(raw_dir, table_name)
    present = [_name(p, raw_dir) for p in paths]
    if table.versioned:
        report.files_kept = _vanished(con, table_name, present)
    else:
        report.files_removed = _remove_vanished(con, table_name, present)
    for path in paths:
        name = _name(path, raw_dir)
        digest = file_digest(path)
        seen = con.execute(
            "select sha256 from landing._loads where table_name = ? and source_file = ?"
            " order by loaded_at desc limit 1",
            [table_name, name],
        ).fetchone()
        if seen and seen[0] == digest:
            report.files_unchanged.append(name)
            continue
        load_id = digest[:16]
        con.execute("begin transaction")
        try:
            con.execute(f"delete from landing.{table_name} where _source_file = ?", [name])
            rows, ignored, missing = land_file(con, table, path, name, load_id)
            con.execute(
                "insert into landing._loads values (?, ?, ?, ?, timezone('UTC', now()), ?)",
                [table_name, name, digest, load_id, rows],
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        report.files_loaded.append(name)
        report.rows_loaded += rows
        if ignored:
            report.ignored_columns[name] = ignored
        if missing:
            report.missing_optional_columns[name] = missing
    report.rows_in_landing = con.execute(f"select count(*) from landing.{table_name}").fetchone()[0]
    return report


def _name(path: Path, raw_dir: Path) -> str:
    return path.relative_to(raw_dir).as_posix()


def _remove_vanished(
    con: duckdb.DuckDBPyConnection, table_name: str, present: list[str]
) -> dict[str, int]:
    """Delete the rows (and load records) of files no longer in the export folder; returns the
    rows each took out."""
    gone = _vanished(con, table_name, present)
    if gone:
        con.execute("begin transaction")
        con.execute(
            f"delete from landing.{table_name} where not list_contains(?, _source_file)", [present]
        )
        con.execute(
            "delete from landing._loads where table_name = ? and not list_contains(?, source_file)",
            [table_name, present],
        )
        con.execute("commit")
    return gone


def _vanished(con: duckdb.DuckDBPyConnection, table_name: str, present: list[str]) -> dict:
    """Rows in landing per file no longer in the export folder."""
    return dict(
        con.execute(
            f"select _source_file, count(*) from landing.{table_name}"
            " where not list_contains(?, _source_file) group by all order by 1",
            [present],
        ).fetchall()
    )


def missing_required_tables(raw_dir: Path) -> list[str]:
    return [
        t.name for t in tables().values() if t.required_table and not find_files(raw_dir, t.name)
    ]
