"""The per-customer CRM models as Dagster assets on the test world's warehouse
(gold/crm_send_times, gold/crm_personal_caps) and their use by the campaign assets: a
`best_in_window` file sends each customer at their best hour of the window from the send-time
table (night hours only with night consent), and every audience caps each customer at their
own cap from the caps table, the channel's cap the ceiling."""

from __future__ import annotations

import shutil
from datetime import time, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dagster_project.defs.campaigns.assets import campaign_asset
from dagster_project.defs.crm.assets import crm_personal_caps, crm_send_times
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.segments.assets import segment_tables
from dagster_project.lib.campaigns.audience import is_night
from dagster_project.lib.campaigns.config import FREQUENCY_CAPS
from dagster_project.lib.crm import warehouse as crm
from dagster_project.lib.crm.send_time import best_hours
from dagster_project.lib.warehouse import connect

CAMPAIGN = """campaign_id: {cid}
channel: app_push
send: {{date: "{day}", time: "12:00"}}
{timing}
holdout_share: 0.2
segment: {{column: has_marketing_consent, op: "==", value: true}}
"""
WINDOW = (time(10), time(23))


def _materialize(assets, warehouse: Warehouse) -> dict[str, dict]:
    result = dg.materialize(assets, resources={"warehouse": warehouse})
    assert result.success
    return {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


@pytest.mark.slow
def test_campaigns_use_each_customers_send_time_and_personal_cap(
    world: Path, tmp_path: Path
) -> None:
    shutil.copy(world / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    path = tmp_path / "warehouse.duckdb"
    warehouse = Warehouse(
        duckdb_path=str(path), raw_dir=str(world / "raw"), features_dir=str(tmp_path / "f")
    )
    meta = _materialize([segment_tables, crm_send_times, crm_personal_caps], warehouse)
    with connect(path, read_only=True) as con:
        customers = con.sql(
            "select customer_id, has_marketing_consent, has_night_consent from gold.dim_customers"
        ).pl()
        times = con.sql(f"select * from {crm.SEND_TIMES_TABLE}").pl()
        caps = con.sql(f"select * from {crm.CAPS_TABLE}").pl()
        send_date = con.sql(
            "select max(calendar_date) + 1 from gold.dim_dates where is_observed"
        ).fetchone()[0]
    # One row per customer; one per customer and channel with messages, under the ceiling.
    assert (
        times.height == customers.height == meta["gold/crm_send_times"]["dagster/row_count"].value
    )
    assert times["customer_id"].is_unique().all()
    assert (times.filter(pl.col("n_activity") == 0)["prior_weight"] == 1.0).all()
    assert set(caps["channel"]) <= set(FREQUENCY_CAPS)
    ceiling = caps["channel"].replace_strict({ch: m for ch, (m, _) in FREQUENCY_CAPS.items()})
    assert caps["max_sends"].is_between(1, ceiling).all()
    assert caps.filter(pl.col("channel") == "app_push").height == customers.height

    # The test world's CRM sends plant no fatigue (one message per campaign, weeks apart), so
    # the model rightly gives every app push customer the ceiling; to see the audiences apply
    # a binding cap, every second customer's cap is set to 1, in the table the assets read.
    with connect(path) as con:
        con.execute(
            f"update {crm.CAPS_TABLE} set max_sends = 1 where channel = 'app_push'"
            " and hash(customer_id) % 2 = 0"
        )
        tight = set(
            con.sql(
                f"select customer_id from {crm.CAPS_TABLE}"
                " where channel = 'app_push' and max_sends = 1"
            ).pl()["customer_id"]
        )
    folder = tmp_path / "campaigns"
    folder.mkdir()
    files = []
    for cid, day, timing in [
        ("first", send_date, 'send_time: {mode: best_in_window, window: ["10:00", "23:00"]}'),
        ("second", send_date + timedelta(days=1), ""),
    ]:
        files.append(folder / f"{cid}.yml")
        files[-1].write_text(CAMPAIGN.format(cid=cid, day=day, timing=timing))
    meta = _materialize([campaign_asset(p) for p in files], warehouse)
    assert meta["campaigns/first"]["send_time"].value == "best_in_window 10:00-23:00"
    with connect(path, read_only=True) as con:
        assigned = con.sql("select * from gold.campaign_assignments").pl()
    first = assigned.filter(pl.col("campaign_id") == "first").join(customers, on="customer_id")
    second = assigned.filter(pl.col("campaign_id") == "second")

    # Send times: each customer's best hour of the window from the table; night hours only
    # with night consent, and nobody left out for the night rule (a day hour instead).
    model = crm.model_from_table(times.sort("customer_id"))
    expected = best_hours(model, first, send_date, WINDOW)
    got = first.join(expected, on="customer_id")
    assert (got["send_local"].dt.hour() == got["send_hour"]).all()
    assert got["send_local"].dt.hour().is_between(10, 22).all()
    assert (got["send_local"].dt.date() == send_date).all()
    assert got["send_local"].dt.hour().n_unique() > 3  # personal hours, not one time
    night = got.filter(is_night(pl.col("send_local").dt.time()))
    assert night.height > 0 and night["has_night_consent"].all()
    assert meta["campaigns/first"]["funnel/excluded_night"].value == 0

    # Personal caps: a customer with a cap of 1 sent the first push is not sent the second
    # (a day later, inside the 7-day window); the others, under the channel's cap of 3, are.
    sent_first = set(first.filter("is_treatment")["customer_id"])
    in_second = set(second["customer_id"])
    assert sent_first & tight and not (sent_first & tight & in_second)
    assert (sent_first - tight) <= in_second
    assert meta["campaigns/second"]["funnel/excluded_frequency_cap"].value >= len(
        sent_first & tight
    )
