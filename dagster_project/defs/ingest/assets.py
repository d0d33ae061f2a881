"""One landing asset per raw contract table: the export files as read, with load metadata."""

from pathlib import Path

import dagster as dg

from dagster_project.defs.resources import Warehouse
from dagster_project.lib.contract import tables
from dagster_project.lib.ingest import (
    IngestError,
    land_table,
    missing_required_tables,
    unmatched_files,
)
from dagster_project.lib.warehouse import preview_markdown


def landing_asset(table_name: str) -> dg.AssetsDefinition:
    table = tables()[table_name]

    @dg.asset(
        key=["landing", table_name],
        group_name="landing",
        kinds={"duckdb"},
        pool="duckdb",
        description=f"Raw {table_name} as read from the export ({table.grain}), all text, with "
        "source file, row number, load id and load time. Files already loaded are skipped; the "
        "rows of a file that left the export folder leave with it.",
    )
    def _landing(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        raw_dir = Path(warehouse.raw_dir)
        if table.required_table and table_name in missing_required_tables(raw_dir):
            raise IngestError(
                f"{raw_dir}: no '{table_name}' file (.csv or .parquet); it is "
                "the one table every export must have"
            )
        with warehouse.connect() as con:
            report = land_table(con, raw_dir, table_name)
            preview = preview_markdown(con, f"landing.{table_name}")
        for name, rows in report.files_removed.items():
            context.log.warning(
                f"{name}: no longer in the export folder; its {rows:,} rows removed"
            )
        for name, rows in report.files_kept.items():
            context.log.warning(
                f"{name}: gone from the export folder; its {rows:,} rows kept as history"
            )
        for name, columns in report.ignored_columns.items():
            context.log.warning(f"{name}: columns outside the contract ignored: {columns}")
        # Every export has the required table, so its asset speaks for the whole folder.
        unmatched = unmatched_files(raw_dir) if table.required_table else []
        for name in unmatched:
            context.log.warning(
                f"{raw_dir / name}: matches no table and is not read (a table's files are"
                " <table>.csv, .csv.gz or .parquet, or such files in a <table>/ folder)"
            )
        return dg.MaterializeResult(
            metadata={
                **({"unmatched_files": unmatched} if table.required_table else {}),
                "dagster/row_count": report.rows_in_landing,
                "rows_loaded": report.rows_loaded,
                "files_loaded": report.files_loaded,
                "files_unchanged": report.files_unchanged,
                "files_removed": report.files_removed,
                "files_kept_as_history": report.files_kept,
                "ignored_columns": report.ignored_columns,
                "missing_optional_columns": report.missing_optional_columns,
                "preview": dg.MetadataValue.md(preview),
            }
        )

    return _landing


landing_assets = [landing_asset(name) for name in tables()]
