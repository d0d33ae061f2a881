"""The customer table campaign rules run on: one row per customer with every known column
(rules.KNOWN_COLUMNS) that this warehouse has, and the send history frequency caps count."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import polars as pl

from dagster_project.lib.campaigns import rules
from dagster_project.lib.warehouse import has_table, newest_snapshots


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    }


def audience_source(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """dim_customers + the newest feature snapshot + segments + (when present) the newest
    scores, the coupon uplift scores (present only while that model passes its check) and the
    customer's earliest upcoming demand dip as a target (gold.demand_dip_targets).
    Column names come from rules.KNOWN_COLUMNS only, quoted as identifiers."""

    def select(alias: str, wanted: dict[str, str], have: set[str]) -> list[str]:
        return [f'{alias}."{c}"' for c in wanted if c in have]

    parts = ["c.customer_id"] + select(
        "c", rules.CUSTOMER_COLUMNS, _columns(con, "gold", "dim_customers")
    )
    joins = []
    if has_table(con, "gold.feat_customer__daily"):
        parts += select("f", rules.FEATURE_COLUMNS, _columns(con, "gold", "feat_customer__daily"))
        joins.append(f"left join ({newest_snapshots()}) as f using (customer_id)")
    if has_table(con, "gold.customer_segments"):
        parts += select("s", rules.SEGMENT_COLUMNS, _columns(con, "gold", "customer_segments"))
        joins.append("left join gold.customer_segments as s using (customer_id)")
    if has_table(con, "gold.customer_scores"):
        parts += select("k", rules.SCORE_COLUMNS, _columns(con, "gold", "customer_scores"))
        joins.append(
            "left join (select * from gold.customer_scores"
            " qualify row_number() over (partition by customer_id order by scored_at desc) = 1)"
            " as k using (customer_id)"
        )
    if has_table(con, "gold.coupon_uplift_scores"):
        have = _columns(con, "gold", "coupon_uplift_scores")
        parts += [
            f'u."{src}" as "{col}"' for col, src in rules.UPLIFT_SOURCE.items() if src in have
        ]
        joins.append("left join gold.coupon_uplift_scores as u using (customer_id)")
    if has_table(con, "gold.demand_dip_targets"):
        parts += ['d."dip_category"', 'd."dip_date"', 'd."dip_preference_index"']
        joins.append(
            "left join (select customer_id, category_l1 as dip_category, date as dip_date,"
            " preference_index as dip_preference_index from gold.demand_dip_targets"
            " qualify row_number() over (partition by customer_id"
            " order by date, preference_index desc, category_l1) = 1) as d using (customer_id)"
        )
    sql = f"select {', '.join(parts)} from gold.dim_customers as c {' '.join(joins)}"
    return con.sql(sql + " order by c.customer_id").pl()


def send_history(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every message sent so far (customer_id, channel, sent_at UTC)."""
    return con.sql(
        "select customer_id, channel, sent_at from gold.fct_campaign_sends"
        " where is_sent and sent_at is not null"
    ).pl()


def next_send_date(con: duckdb.DuckDBPyConnection) -> date:
    """The day after the data ends: the default send date of a campaign file without one."""
    last = con.sql("select max(calendar_date) from gold.dim_dates where is_observed").fetchone()[0]
    if last is None:
        raise ValueError("gold.dim_dates has no observed date: build the warehouse first")
    return last + timedelta(days=1)


def campaign_products(
    con: duckdb.DuckDBPyConnection, treatment: pl.DataFrame, pick
) -> pl.DataFrame:
    """customer_id, product_ids for the treatment customers (``pick``: config.ProductPick), from
    gold.product_candidates / gold.trending_products (the products assets)."""
    from dagster_project.lib.products.campaign import campaign_products as pick_products

    if not has_table(con, "gold.product_candidates"):
        raise ValueError(
            "the campaign asks for products but gold.product_candidates does not exist: "
            "materialize the products assets (gold/product_candidates) first"
        )
    candidates = con.sql(
        "select customer_id, list, rank, product_id from gold.product_candidates"
    ).pl()
    trending = con.sql("select category_l1, rank, product_id from gold.trending_products").pl()
    top = con.sql("select customer_id, top_category from gold.customer_segments").pl()
    return pick_products(treatment["customer_id"], pick.list, pick.count, candidates, trending, top)


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return has_table(con, table) and con.sql(f"select count(*) from {table}").fetchone()[0] > 0


def trigger_data(con: duckdb.DuckDBPyConnection, since=None, business_tz: str = "Asia/Seoul"):
    """What trigger ticks read (triggers.TriggerData): the events from ``since`` (naive UTC, as
    the warehouse stores times; None: all) with the product's category, every customer's first
    order, the event types the whole events table has, the daily weather per region where the
    data has a weather table, and the price changes where it has a price history."""
    from dagster_project.lib.campaigns.triggers import TriggerData

    where = "" if since is None else "where e.occurred_at >= $since"
    events = con.execute(
        "select e.event_id, e.session_id, e.customer_id, e.occurred_at, e.event_type,"
        " e.product_id, p.category_l1 from silver.int_events__cleaned as e"
        f" left join silver.int_products__conformed as p using (product_id) {where}"
        " order by e.occurred_at, e.event_id",
        {} if since is None else {"since": since},
    ).pl()
    first_orders = con.sql(
        "select customer_id, min(ordered_at) as first_ordered_at"
        " from silver.int_orders__enriched group by customer_id"
    ).pl()
    types = con.sql("select distinct event_type from silver.int_events__cleaned").fetchall()
    # An export without an optional table lands it empty: no such data (the trigger's clear
    # error), which is not the same as no rows since `since` (nothing to trigger).
    weather = None
    if _has_rows(con, "silver.int_weather__daily"):
        # From the day before `since`: a temperature drop compares with the day before.
        weather = con.execute(
            "select date, region, precipitation_mm, mean_temp_c from silver.int_weather__daily"
            + ("" if since is None else " where date >= $since::date - 1"),
            {} if since is None else {"since": since},
        ).pl()
    price_changes = None
    prices = "silver.int_product_prices__history"
    if _has_rows(con, prices):
        price_changes = con.execute(
            f"select product_id, valid_from, drop_pct from {prices} where drop_pct is not null"
            + ("" if since is None else " and valid_from >= $since"),
            {} if since is None else {"since": since},
        ).pl()
    return TriggerData(
        events, first_orders, {t for (t,) in types}, business_tz, weather, price_changes
    )


def newest_event(con: duckdb.DuckDBPyConnection):
    """The newest event time (naive UTC): a tick's default `as_of`."""
    return con.sql("select max(occurred_at) from silver.int_events__cleaned").fetchone()[0]


def planned_and_triggered_sends(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The sends on record that frequency caps must count besides the executed ones: planned
    batch and triggered treatment rows of gold.campaign_assignments (customer_id, channel,
    sent_at)."""
    if not has_table(con, "gold.campaign_assignments"):
        return pl.DataFrame(
            schema={"customer_id": pl.String, "channel": pl.String, "sent_at": pl.Datetime("us")}
        )
    return con.sql(
        "select customer_id, channel, sent_at from gold.campaign_assignments where is_treatment"
    ).pl()
