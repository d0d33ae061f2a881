"""Customer changes in a later export reach the next run's audiences: an opt-out is never exported
again, and night-time sends follow the customer's own time zone. Real ingestion, `dbt build` and
the campaign assets, on a copy of the test world's warehouse."""

from __future__ import annotations

import csv
import hashlib
import shutil
from datetime import UTC, time
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pytest

from dagster_project.defs.campaigns.assets import campaign_asset, is_triggered
from dagster_project.defs.products.assets import product_tables
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.segments.assets import segment_tables
from dagster_project.lib.campaigns import config, source
from dagster_project.lib.contract import tables
from dagster_project.lib.settings import REPO_ROOT
from dagster_project.lib.warehouse import connect
from tests.conftest import build_warehouse, query

FILES = [p for p in config.campaign_files(REPO_ROOT / "campaigns") if not is_triggered(p)]
NIGHT_PUSH = "push_night_meticulous_browsers"  # sent at 2025-10-29 13:30 UTC (22:30 in Seoul)
# 13:30 UTC is 13:30 in London (day) and 06:30 in Los Angeles (night)
MOVED_TO = ("Europe/London", "America/Los_Angeles")


def run_campaigns(warehouse: Warehouse) -> dict[str, pl.DataFrame]:
    """Materialize segments, the product tables (a campaign carries products) and every
    campaign; the exported rows by campaign id."""
    result = dg.materialize(
        [segment_tables, product_tables, *map(campaign_asset, FILES)],
        resources={"warehouse": warehouse},
    )
    assert result.success
    folder = Path(warehouse.duckdb_path).parent / "exports" / "campaigns"
    return {p.stem: pl.read_parquet(folder / f"{p.stem}.parquet") for p in FILES}


def in_holdout(campaign_id: str, customer_id: str, share: float) -> bool:
    """The first 60 bits of SHA-256("<campaign>:<customer>") / 2**60 below the holdout share."""
    digest = hashlib.sha256(f"{campaign_id}:{customer_id}".encode()).hexdigest()
    return int(digest[:15], 16) / 2**60 < share


def night_push_candidates(duckdb_path: Path, exclude: set[str]) -> list[str]:
    """Customers the night push's rule selects, with marketing but without night consent (so
    a Seoul send at 22:30 leaves them out)."""
    campaign = config.load_campaign(REPO_ROOT / "campaigns" / f"{NIGHT_PUSH}.yml")
    with connect(duckdb_path, read_only=True) as con:
        customers = source.audience_source(con)
    return (
        customers.filter(
            campaign.segment_expr().fill_null(False),
            pl.col("has_marketing_consent"),
            ~pl.col("has_night_consent"),
            ~pl.col("customer_id").is_in(list(exclude)),
        )["customer_id"]
        .sort()
        .to_list()
    )


@pytest.mark.slow
def test_later_customer_file_opt_outs_and_time_zones_reach_the_next_run(
    world: Path, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(world / "raw", raw)
    duckdb_path = tmp_path / "warehouse.duckdb"
    shutil.copy(world / "warehouse.duckdb", duckdb_path)
    warehouse = Warehouse(
        duckdb_path=str(duckdb_path), raw_dir=str(raw), features_dir=str(tmp_path / "features")
    )
    before = run_campaigns(warehouse)

    # Ten exported customers of each campaign opt out; twenty night-push customers without night
    # consent move abroad; one new customer's time zone is not a time zone.
    opted_out = sorted(
        {c for frame in before.values() for c in frame["customer_id"].sort().head(10).to_list()}
    )
    assert len(opted_out) >= 20
    movers = night_push_candidates(duckdb_path, set(opted_out))[:20]
    assert len(movers) == 20
    zone_of = {c: MOVED_TO[i % 2] for i, c in enumerate(movers)}
    assert not set(movers) & set(before[NIGHT_PUSH]["customer_id"])  # night in Seoul: left out
    base = (
        pl.read_parquet(raw / "customers.parquet")
        .filter(pl.col("customer_id").is_in(opted_out + movers))
        .with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .with_columns(pl.col(pl.Boolean).cast(pl.String))
        .drop("updated_at", strict=False)  # this export has none: its rows are as of its load
    )
    rows = [
        {**r, "marketing_opt_in": "false"} if r["customer_id"] in opted_out else r
        for r in base.to_dicts()
    ]
    rows = [{**r, "time_zone": zone_of.get(r["customer_id"], r.get("time_zone"))} for r in rows]
    rows.append(
        dict(customer_id="MARS1", signed_up_at="2025-01-01T00:00:00Z", time_zone="Mars/Olympus")
    )
    (raw / "customers").mkdir(exist_ok=True)
    with (raw / "customers" / "later.csv").open("w", newline="") as f:
        columns = [c for c in tables()["customers"].column_names if c != "updated_at"]
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    build_warehouse(raw, duckdb_path).assert_ok()
    after = run_campaigns(warehouse)
    for campaign_id, frame in after.items():
        assert frame.height > 0
        leaked = sorted(set(frame["customer_id"]) & set(opted_out))
        assert not leaked, f"{campaign_id} exports customers who opted out: {leaked}"

    # Local send times computed here with zoneinfo from the UTC send time and the zone we wrote.
    push = after[NIGHT_PUSH].filter(pl.col("customer_id").is_in(movers))
    local = {
        c: at.replace(tzinfo=UTC).astimezone(ZoneInfo(zone_of[c])).time()
        for c, at in zip(push["customer_id"], push["send_at_utc"], strict=True)
    }
    assert all(t == time(13, 30) for t in local.values()), local
    # The holdout from its documented rule (the recorded assignments keep the first run's plan:
    # the send date has passed, and gold.campaign_assignments is append-only).
    holdout = {c for c in movers if in_holdout(NIGHT_PUSH, c, share=0.2)}
    # London movers get the 13:30 push without night consent; Los Angeles movers (06:30) do not
    assert set(local) == {c for c, zone in zone_of.items() if zone == "Europe/London"} - holdout
    assert len(local) >= 5  # most London movers are treated (holdout share 0.2)
    assert push["time_zone"].to_list() == [zone_of[c] for c in push["customer_id"]]
    # the later file lands as versions; only the row with a bad time zone is quarantined
    assert query(
        duckdb_path,
        "select source_file, rule from bronze.quarantine where table_name = 'customers'",
    ) == [("customers/later.csv", "time_zone:unknown_time_zone")]
