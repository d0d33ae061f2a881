"""The one Definitions object: everything under ``defs/``, plus platform-wide policy."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent / "defs")
    # DuckDB allows one writer process: run each job's steps in one process, one after another.
    return dg.Definitions.merge(loaded, dg.Definitions(executor=dg.in_process_executor))
