"""Recording assignments in the warehouse: gold.campaign_assignments holds every planned
campaign's full assignment (treatment and holdout), one row per campaign, customer and send,
for measurement once the campaign has run.

The table is an append-only record of what was sent: rows whose send time has passed are never
deleted or changed. Re-planning a campaign replaces only its rows that are still to be sent; a
plan for a send that already went out is not recorded again (the first record stands), and a
later send of the same campaign is added beside the earlier ones."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import polars as pl

from dagster_project.lib.warehouse import has_table

TABLE = "gold.campaign_assignments"


def record_assignments(
    con: duckdb.DuckDBPyConnection,
    assignments: pl.DataFrame,
    campaign_ids: list[str] | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Record the plan of `campaign_ids` (default: the campaigns in `assignments`; name them
    when a plan may be empty, so an audience that shrank to nobody replaces the unsent plan).
    `sent_at` is naive UTC, as the planner writes it; `now` defaults to the clock. Returns the
    ids of campaigns that already have a send on record, whose plan is recorded only for sends
    after it."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    ids = sorted(campaign_ids or assignments["campaign_id"].unique().to_list())
    con.register("assignments", assignments)
    try:
        con.execute(f"create table if not exists {TABLE} as select * from assignments limit 0")
        # The last send already made per campaign: a plan at or before it is that send again.
        sent = dict(
            con.execute(
                f"select campaign_id, max(sent_at) from {TABLE}"
                " where campaign_id in (select unnest(?)) and sent_at <= ? group by campaign_id",
                [ids, now],
            ).fetchall()
        )
        con.execute(
            f"delete from {TABLE} where campaign_id in (select unnest(?)) and sent_at > ?",
            [ids, now],
        )
        con.execute(
            f"insert into {TABLE} by name select a.* from assignments as a"
            " left join (select unnest(?) as campaign_id, unnest(?) as last_sent) as s"
            " using (campaign_id)"
            " where s.last_sent is null or a.sent_at > s.last_sent",
            [list(sent), list(sent.values())],
        )
    finally:
        con.unregister("assignments")
    return sorted(sent)


TRIGGER_TABLE = "gold.campaign_trigger_log"


def decided_triggers(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(campaign_id, trigger_key) of every trigger decided so far: a tick skips them, so no
    customer is triggered twice for the same event."""
    from dagster_project.lib.campaigns.triggers import LOG_SCHEMA

    if not has_table(con, TRIGGER_TABLE):
        return pl.DataFrame(schema={k: LOG_SCHEMA[k] for k in ("campaign_id", "trigger_key")})
    return con.sql(f"select campaign_id, trigger_key from {TRIGGER_TABLE}").pl()


def record_triggers(con: duckdb.DuckDBPyConnection, log: pl.DataFrame) -> int:
    """Append a tick's decisions to the trigger log; a (campaign, trigger) already there keeps its
    first decision (a re-run tick adds nothing). Returns the rows added."""
    con.register("trigger_log", log)
    try:
        con.execute(
            f"create table if not exists {TRIGGER_TABLE} as select * from trigger_log limit 0"
        )
        before = con.execute(f"select count(*) from {TRIGGER_TABLE}").fetchone()[0]
        con.execute(
            f"insert into {TRIGGER_TABLE} by name select * from trigger_log as t where not exists"
            f" (select 1 from {TRIGGER_TABLE} as l"
            " where l.campaign_id = t.campaign_id and l.trigger_key = t.trigger_key)"
        )
        return con.execute(f"select count(*) from {TRIGGER_TABLE}").fetchone()[0] - before
    finally:
        con.unregister("trigger_log")
