"""The one Definitions object: everything under ``defs/``, plus platform-wide policy (owners, tags
and freshness from governance.py; one process per run)."""

import warnings
from pathlib import Path

import dagster as dg

from dagster_project.governance import governed


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent / "defs")
    with warnings.catch_warnings():
        # The public map_asset_specs calls its "preview" sibling and warns on every load.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        loaded = loaded.map_asset_specs(func=governed)
    # DuckDB allows one writer process: run each job's steps in one process, one after another.
    return dg.Definitions.merge(loaded, dg.Definitions(executor=dg.in_process_executor))
