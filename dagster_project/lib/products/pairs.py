"""Complements (bought together more than chance: co-purchase lift) and substitutes (viewed
together but not bought together, within a category), top-k per product."""

from __future__ import annotations

import math

import polars as pl

TOP_K = 5
MIN_BASKETS = 3  # co-purchases a complement pair needs
MIN_COVIEWS = 3


# Pairs counted in one pass at most (about 50 bytes each): the co-viewing pairs of every session
# took 4 GB at 100,000 customers x 365 days and grow with the customers.
MAX_PAIRS_PER_PASS = 50_000_000


def _pairs(groups: pl.DataFrame, group: str, min_together: int = 1) -> pl.DataFrame:
    """product_id, other_product_id, together: distinct groups holding both (both directions),
    pairs in at least ``min_together`` groups. Counted a share of the products at a time when
    the groups hold more than MAX_PAIRS_PER_PASS pairs (a pair's count is its first product's
    pass's alone, so any number of passes gives the same pairs)."""
    g = groups.select(group, "product_id").unique()
    n_pairs = g.group_by(group).len()["len"].cast(pl.Int64).pow(2).sum()
    passes = max(1, math.ceil(n_pairs / MAX_PAIRS_PER_PASS))
    products = g["product_id"].unique().sort()
    return pl.concat(
        g.filter(pl.col("product_id").is_in(products.gather_every(passes, offset)))
        .join(g, on=group, suffix="_other")
        .filter(pl.col("product_id") != pl.col("product_id_other"))
        .group_by("product_id", other_product_id="product_id_other")
        .agg(together=pl.len())
        .filter(pl.col("together") >= min_together)
        for offset in range(passes)
    )


def complements(order_items: pl.DataFrame, k: int = TOP_K) -> pl.DataFrame:
    """product_id, complement_product_id, baskets, lift, rank. lift = P(a and b) / (P(a) P(b))
    over orders; pairs seen in fewer than MIN_BASKETS orders are not ranked."""
    n_orders = order_items["order_id"].n_unique()
    support = (
        order_items.select("order_id", "product_id").unique().group_by("product_id").agg(n=pl.len())
    )
    p = _pairs(order_items, "order_id", MIN_BASKETS)
    p = p.join(support, on="product_id").join(
        support.rename({"product_id": "other_product_id", "n": "n_other"}), on="other_product_id"
    )
    p = p.with_columns(lift=pl.col("together") * n_orders / (pl.col("n") * pl.col("n_other")))
    return _top_k(p, "lift", k, complement_product_id="other_product_id", baskets="together")


def substitutes(
    events: pl.DataFrame,
    order_items: pl.DataFrame,
    orders: pl.DataFrame,
    products: pl.DataFrame,
    k: int = TOP_K,
) -> pl.DataFrame:
    """product_id, substitute_product_id, coviews, score, rank: products of the same category
    viewed by the same customers (in a session) but rarely bought together by them. score =
    co-viewing sessions x (1 - share of those customers who bought both)."""
    views = events.filter(pl.col("event_type") == "view", pl.col("product_id").is_not_null())
    cov = _pairs(views, "session_id", MIN_COVIEWS)
    cat = products.select("product_id", "category_l1")
    cov = (
        cov.join(cat, on="product_id")
        .join(
            cat.rename({"product_id": "other_product_id", "category_l1": "cat_other"}),
            on="other_product_id",
        )
        .filter(pl.col("category_l1") == pl.col("cat_other"))
    )
    bought = order_items.join(orders.select("order_id", "customer_id"), on="order_id").select(
        "customer_id", "product_id"
    )
    cobuy = _pairs(bought, "customer_id").rename({"together": "cobought"})
    s = (
        cov.join(cobuy, on=["product_id", "other_product_id"], how="left")
        .with_columns(
            score=pl.col("together")
            * (1 - pl.col("cobought").fill_null(0) / pl.col("together")).clip(0, 1)
        )
        .filter(pl.col("score") > 0)
    )
    return _top_k(s, "score", k, substitute_product_id="other_product_id", coviews="together")


def _top_k(pairs: pl.DataFrame, score: str, k: int, **renamed: str) -> pl.DataFrame:
    """Per product, its k partners by `score` (ties by partner id, so reruns agree): product_id,
    the `renamed` columns, the score and rank 1..k."""
    return (
        pairs.sort("product_id", score, "other_product_id", descending=[False, True, False])
        .group_by("product_id", maintain_order=True)
        .head(k)
        .select(
            "product_id",
            **renamed,
            **{score: score},
            rank=pl.int_range(1, pl.len() + 1).over("product_id"),
        )
    )


def planted_pair_recovery(found: pl.DataFrame, planted: pl.DataFrame) -> dict[str, float]:
    """hit_rate_at_5: share of planted anchors whose partner is in their top 5; precision_at_5:
    of the complements listed for the planted anchors (at most 5 each), the share that is the
    planted partner (one partner each, so at most 0.2 when every list is full);
    precision_top_pairs: of the N pairs with the highest lift (N = planted pairs), the share that
    is planted."""
    joined = planted.join(found, on="product_id", how="left")
    hit = joined.group_by("product_id").agg(
        (pl.col("complement_product_id") == pl.col("complement_product_id_right"))
        .fill_null(False)
        .any()
        .alias("hit")
    )
    top = (
        found.sort("lift", "baskets", "product_id", descending=[True, True, False])
        .unique(["product_id"], keep="first", maintain_order=True)
        .head(planted.height)
    )
    top_hit = top.join(planted, on=["product_id", "complement_product_id"], how="semi").height
    listed = planted.join(found.filter(pl.col("rank") <= 5), on="product_id")
    listed_hits = listed.filter(
        pl.col("complement_product_id") == pl.col("complement_product_id_right")
    ).height
    return {
        "hit_rate_at_5": float(hit["hit"].mean()),
        "precision_at_5": listed_hits / max(listed.height, 1),
        "precision_top_pairs": top_hit / max(planted.height, 1),
    }
