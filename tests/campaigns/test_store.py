"""gold.campaign_assignments is an append-only record of what was sent."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from dagster_project.lib.campaigns.store import TABLE, record_assignments

NOW = datetime(2025, 11, 1, 12, 0)


def _plan(campaign: str, customers: list[str], sent_at: datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "campaign_id": [campaign] * len(customers),
            "customer_id": customers,
            "is_treatment": [True] * len(customers),
            "sent_at": [sent_at] * len(customers),
        },
        schema_overrides={"sent_at": pl.Datetime("us")},
    )


def _rows(con) -> list[tuple]:
    return con.sql(f"select campaign_id, customer_id, sent_at from {TABLE} order by all").fetchall()


def test_replanning_never_deletes_a_sent_campaigns_assignment() -> None:
    con = duckdb.connect()
    con.execute("create schema gold")
    sent, later = datetime(2025, 10, 30, 10), datetime(2025, 11, 5, 10)
    assert record_assignments(con, _plan("winback", ["C1", "C2"], sent), now=NOW) == []
    record_assignments(con, _plan("other", ["C3"], later), now=NOW)
    before = _rows(con)
    # Re-planned after the send (the audience has moved on): the record of the send stands.
    assert record_assignments(con, _plan("winback", ["C2", "C4"], sent), now=NOW) == ["winback"]
    assert _rows(con) == before
    # A later send of the same campaign is added beside the first one.
    record_assignments(con, _plan("winback", ["C4"], later), now=NOW)
    assert _rows(con) == sorted([*before, ("winback", "C4", later)])
    # A send still to come may be re-planned: its rows are replaced, not duplicated.
    record_assignments(con, _plan("winback", ["C5"], later), now=NOW)
    record_assignments(con, _plan("winback", ["C5"], later), now=NOW)
    assert _rows(con) == sorted([*before, ("winback", "C5", later)])
    # Once that send has gone out, it is kept too.
    record_assignments(con, _plan("winback", ["C6"], later), now=datetime(2025, 11, 6))
    assert ("winback", "C5", later) in _rows(con)
    assert ("winback", "C6", later) not in _rows(con)


def test_an_unsent_plan_whose_audience_became_empty_is_removed() -> None:
    """Stale assignments: deletion used to go by the ids in the new frame, so an empty re-plan
    left the old unsent rows in place, to be measured as if sent."""
    con = duckdb.connect()
    con.execute("create schema gold")
    later = datetime(2025, 11, 5, 10)
    record_assignments(con, _plan("winback", ["C1", "C2"], later), now=NOW)
    record_assignments(con, _plan("winback", [], later), ["winback"], now=NOW)
    assert _rows(con) == []
