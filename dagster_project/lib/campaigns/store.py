"""Recording assignments in the warehouse: gold.campaign_assignments holds every planned
campaign's full assignment (treatment and holdout), one row per campaign and customer, for
measurement once the campaign has run."""

from __future__ import annotations

import duckdb
import polars as pl

TABLE = "gold.campaign_assignments"


def record_assignments(con: duckdb.DuckDBPyConnection, assignments: pl.DataFrame) -> None:
    """Replace this campaign's rows (re-running gives the same rows, not duplicates)."""
    ids = assignments["campaign_id"].unique().to_list()
    con.register("assignments", assignments)
    try:
        con.execute(f"create table if not exists {TABLE} as select * from assignments limit 0")
        con.execute(f"delete from {TABLE} where campaign_id in (select unnest(?))", [ids])
        con.execute(f"insert into {TABLE} by name select * from assignments")
    finally:
        con.unregister("assignments")
