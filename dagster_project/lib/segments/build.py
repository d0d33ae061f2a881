"""All segment tables from the warehouse in one pass (read with DuckDB, computed with Polars)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from dagster_project.lib.segments import behaviour, preference, rfm
from dagster_project.lib.segments.config import SegmentConfig


@dataclass
class SegmentTables:
    as_of: date
    customer_segments: pl.DataFrame  # one row per customer
    category_preference: pl.DataFrame  # one row per customer and category
    behaviour_patterns: pl.DataFrame  # one row per cohort (age band x gender) and category
    notes: list[str]


def data_end_date(con: duckdb.DuckDBPyConnection) -> date:
    """The last business date with data: segments describe customers as of its end."""
    found = con.sql(
        "select coalesce((select max(calendar_date) from gold.dim_dates where is_observed),"
        " (select max(order_date) from silver.int_orders__enriched))"
    ).fetchone()[0]
    if found is None:
        raise ValueError("no data: gold.dim_dates and silver.int_orders__enriched are empty")
    return found


def purchased_lines(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, list[str]]:
    """Purchased order lines (customer_id, category_l1) and every product category."""
    lines = con.sql(
        "select customer_id, category_l1 from silver.int_order_lines__joined"
        " where category_l1 is not null"
    ).pl()
    categories = [
        r[0]
        for r in con.sql(
            "select distinct category_l1 from silver.int_products__conformed"
            " where category_l1 is not null order by 1"
        ).fetchall()
    ]
    return lines, categories


def build_segments(
    con: duckdb.DuckDBPyConnection, cfg: SegmentConfig | None = None
) -> SegmentTables:
    cfg = cfg or SegmentConfig()
    as_of = data_end_date(con)
    notes: list[str] = []
    customers = con.sql(
        "select customer_id, gender, age_band from gold.dim_customers order by customer_id"
    ).pl()
    orders = con.sql(
        "select customer_id, order_date, order_amount_krw from silver.int_orders__enriched"
    ).pl()
    totals = rfm.customer_order_totals(orders, customers, as_of)
    segments = rfm.rfm_segments(totals, cfg.rfm).join(
        rfm.value_tiers(totals, cfg.value_tiers), on="customer_id"
    )

    sessions = con.sql(
        "select customer_id, session_id, page_views, search_count, duration_seconds"
        " from silver.int_sessions__attributed where customer_id is not null"
    ).pl()
    events = con.sql(
        "select session_id, customer_id, event_type, product_id from silver.int_events__cleaned"
    ).pl()
    products = con.sql(
        "select product_id, category_l1, price_krw from silver.int_products__conformed"
    ).pl()
    if sessions.height:
        session_cats = behaviour.session_categories(events, products)
        browsing = behaviour.customer_browsing(sessions, session_cats)
        types = behaviour.browsing_types(browsing, cfg.behaviour).select(
            "customer_id", "browsing_type"
        )
        patterns = behaviour.cohort_browsing_types(
            behaviour.cohort_patterns(sessions, session_cats, customers),
            sessions,
            session_cats,
            customers,
            types,
        )
        browsing = browsing.join(types, on="customer_id", how="left")
    else:
        notes.append("no sessions: browsing types and behaviour patterns are empty")
        browsing = pl.DataFrame(
            schema={"customer_id": pl.String, "sessions": pl.Int64, "browsing_type": pl.String}
        )
        patterns = pl.DataFrame(
            schema={"age_band": pl.String, "gender": pl.String, "category_l1": pl.String}
        )

    lines, categories = purchased_lines(con)
    views = preference.product_views(events, products)
    if categories:
        prefs = preference.preference_index(lines, customers, categories, cfg.preference, views)
        top = preference.top_categories(prefs)
    else:
        notes.append("no product categories: the category preference index is empty")
        prefs = pl.DataFrame(schema={"customer_id": pl.String, "category_l1": pl.String})
        top = pl.DataFrame(
            schema={
                "customer_id": pl.String,
                "top_category": pl.String,
                "top_category_index": pl.Float64,
            }
        )

    table = (
        segments.join(customers, on="customer_id", how="left")
        .join(
            browsing.select(
                "customer_id",
                "browsing_type",
                *[c for c in behaviour.CLUSTER_FEATURES if c in browsing.columns],
            ),
            on="customer_id",
            how="left",
        )
        .join(top, on="customer_id", how="left")
        .with_columns(
            pl.col("browsing_type").fill_null(behaviour.UNKNOWN),
            as_of_date=pl.lit(as_of),
        )
        .sort("customer_id")
    )
    return SegmentTables(as_of, table, prefs, patterns, notes)
