"""The price_drop trigger on a simulated world with planted markdowns, through the real
ingestion and dbt (raw product_prices -> silver.int_product_prices__history) and the tick's own
data reader: the customers it triggers are exactly those the raw files and the simulator's truth
say bookmarked a marked-down product in the 30 days before its markdown and did not buy it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from dagster_project.lib.campaigns import source, triggers
from dagster_project.lib.campaigns.audience import HISTORY_SCHEMA
from dagster_project.lib.campaigns.config import parse_campaign
from dagster_project.lib.simulate import WorldConfig, simulate, write_world
from dagster_project.lib.warehouse import connect
from tests.conftest import build_warehouse

WORLD = WorldConfig(
    customers=2000,
    days=60,
    seed=5,
    price_drop_share=0.3,
    counterfactuals=False,
    response_curves=False,
)
# One tick at the end of the window sees every markdown of it: valid for longer than the world.
CAMPAIGN = {
    "campaign_id": "push_price_drop",
    "channel": "app_push",
    "holdout_share": 0.2,
    "segment": {"column": "has_marketing_consent", "op": "is_not_null"},
    "trigger": {"event": "price_drop", "bookmark_days": 30, "min_drop_pct": 10, "valid_for": "90d"},
}


@pytest.fixture(scope="module")
def drop_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("price_drops")
    write_world(simulate(WORLD), root / "raw")
    build_warehouse(
        root / "raw",
        root / "warehouse.duckdb",
        "--select",
        "+int_product_prices__history +int_events__cleaned +int_orders__enriched"
        " +int_customers__conformed +int_products__conformed",
        "--resource-type",
        "seed",
        "--resource-type",
        "model",
    ).assert_ok()
    return root


def _expected(raw: Path) -> pl.DataFrame:
    """(customer_id, product_id) per markdown of >= 10 %, from the raw events and the truth."""
    drops = (
        pl.read_parquet(raw / "truth" / "price_drops.parquet")
        .filter(pl.col("drop_pct") >= 0.10)
        .select(
            "product_id",
            drop_at=pl.col("drop_date")
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("Asia/Seoul")
            .dt.convert_time_zone("UTC"),
        )
    )
    ev = pl.read_parquet(raw / "events.parquet").select(
        "customer_id", "event_type", "product_id", "occurred_at"
    )
    marks = drops.join(ev.filter(event_type="bookmark"), on="product_id").filter(
        pl.col("occurred_at").is_between(pl.col("drop_at") - timedelta(days=30), pl.col("drop_at"))
    )
    buys = ev.filter(event_type="purchase").select(
        "customer_id", "product_id", bought_at="occurred_at"
    )
    bought = (
        marks.join(buys, on=["customer_id", "product_id"])
        .filter(pl.col("bought_at").is_between(pl.col("occurred_at"), pl.col("drop_at")))
        .select("customer_id", "product_id", "occurred_at")
    )
    return (
        marks.join(bought, on=["customer_id", "product_id", "occurred_at"], how="anti")
        .select("customer_id", "product_id")
        .unique()
        .sort("customer_id", "product_id")
    )


def test_price_drop_ticks_trigger_exactly_the_bookmarkers_of_marked_down_products(
    drop_world: Path,
) -> None:
    campaign = parse_campaign(CAMPAIGN, "campaigns/push_price_drop.yml", "push_price_drop")
    with connect(drop_world / "warehouse.duckdb", read_only=True) as con:
        as_of = source.newest_event(con)
        data = source.trigger_data(con, as_of - triggers.lookback([campaign]))
        customers = con.sql(
            "select customer_id, true as has_marketing_consent, true as has_night_consent,"
            " time_zone from silver.int_customers__conformed"
        ).pl()
    tick = triggers.run_tick(
        campaign,
        data,
        customers,
        pl.DataFrame(schema=HISTORY_SCHEMA),
        triggers.empty_log(),
        as_of,
    )
    expected = _expected(drop_world / "raw")
    assert expected.height >= 20  # enough markdowns of bookmarked products to mean something
    got = tick.log.select("customer_id", "product_id").unique().sort("customer_id", "product_id")
    assert got.equals(expected)
    # Every decision is logged once, the message names the product, and the export carries it.
    assert tick.log["trigger_key"].is_unique().all()
    assert set(tick.log["outcome"]) <= {
        "treatment",
        "holdout",
        "superseded",
        "excluded_by_audience_rules",
    }
    assert tick.triggers["product_id"].is_not_null().all()


def test_a_warehouse_without_a_price_history_gives_the_tick_none(world: Path) -> None:
    """The shared test world has no product_prices file: landed empty, it is no price history
    (the trigger's clear error), not a history without recent changes."""
    with connect(world / "warehouse.duckdb", read_only=True) as con:
        data = source.trigger_data(con, source.newest_event(con) - timedelta(days=30))
    assert data.price_changes is None and data.weather is not None
    # Weather the same way: a window past its last day is no recent weather, not no table.
    with connect(world / "warehouse.duckdb", read_only=True) as con:
        later = source.trigger_data(con, source.newest_event(con) + timedelta(days=30))
    assert later.weather is not None and later.weather.is_empty()
