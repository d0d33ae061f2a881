"""Every product-axis table in one pass, from frames in the raw contract's shape (the Dagster
assets read them from silver): candidate lists, embeddings on three axes, trending products and
keywords of the last day, complements and substitutes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from . import pairs, trending
from .behaviour import interactions
from .candidates import LISTS, candidate_lists
from .embeddings import build_embeddings

BEST_LIST = "affinity"  # the list campaigns get by default (docs/products.md)


@dataclass
class ProductTables:
    as_of: date
    candidates: pl.DataFrame  # one row per customer, list and rank
    trending_products: pl.DataFrame  # one row per category and rank, as of the last day
    trending_keywords: pl.DataFrame
    complements: pl.DataFrame  # one row per product and rank
    substitutes: pl.DataFrame
    embeddings: dict[str, pl.DataFrame]  # axis -> <axis>_id, embedding
    feast_files: dict[str, pl.DataFrame]  # Feast file name -> frame with event timestamps


def build_product_tables(
    customers: pl.DataFrame,
    products: pl.DataFrame,
    events: pl.DataFrame,
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    as_of: date,
    tz: str = "Asia/Seoul",
) -> ProductTables:
    """``customers``: customer_id and optional segment; the others as in the raw contract
    (products: product_id, seller_id, category_l1, style, price, created_at; events with
    occurred_at, event_type, product_id, search_query, session_id; orders: order_id, customer_id;
    order_items: order_id, product_id). Behaviour up to the end of ``as_of`` (business day)."""
    cutoff = (
        datetime.combine(as_of + timedelta(days=1), time.min)
        .replace(tzinfo=_zone(tz))
        .astimezone(UTC)
    )
    inter = interactions(events, products, cutoff)
    emb = build_embeddings(inter, products)
    cands = candidate_lists(customers, inter, emb)
    known = products.filter(pl.col("created_at") < cutoff)
    past = events.filter(pl.col("occurred_at") < cutoff)
    trend = trending.trending_products(past, known, [as_of], tz)
    keywords = trending.trending_keywords(past, [as_of], tz)
    ordered = orders.filter(pl.col("ordered_at") < cutoff)
    items = order_items.join(ordered.select("order_id"), on="order_id", how="semi")
    comp = pairs.complements(items)
    subs = pairs.substitutes(past, items, ordered, known)
    embeddings = {axis: emb.frame(axis) for axis in ("customer", "product", "seller")}
    return ProductTables(
        as_of=as_of,
        candidates=cands,
        trending_products=trend,
        trending_keywords=keywords,
        complements=comp,
        substitutes=subs,
        embeddings=embeddings,
        feast_files=_feast_files(cands, embeddings, cutoff),
    )


def _zone(tz: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(tz)


def _feast_files(
    cands: pl.DataFrame, embeddings: dict[str, pl.DataFrame], cutoff: datetime
) -> dict[str, pl.DataFrame]:
    """One row per entity, stamped with the moment the as-of day ended (naive UTC, as the other
    feature files): customer_candidates (each list's product ids in rank order) and
    <axis>_embedding."""
    stamp = {
        "event_timestamp": pl.lit(cutoff.replace(tzinfo=None)),
        "created_timestamp": pl.lit(cutoff.replace(tzinfo=None)),
    }
    ids = pl.List(pl.Utf8)
    wide = (
        cands.sort("customer_id", "list", "rank")
        .group_by("customer_id", "list", maintain_order=True)
        .agg(pl.col("product_id").cast(pl.Utf8))
        .pivot(on="list", index="customer_id", values="product_id")
    )
    wide = wide.select(
        pl.col("customer_id").cast(pl.Utf8),
        *[
            (pl.col(name) if name in wide.columns else pl.lit(None))
            .cast(ids)
            .alias(f"{name}_product_ids")
            for name in LISTS
        ],
    ).with_columns(**stamp)
    files = {"customer_candidates": wide.sort("customer_id")}
    for axis, frame in embeddings.items():
        # Feast reads variable-size lists (Array(Float32)), not Arrow's fixed-size lists.
        files[f"{axis}_embedding"] = frame.with_columns(
            pl.col("embedding").cast(pl.List(pl.Float32)), **stamp
        )
    return files
