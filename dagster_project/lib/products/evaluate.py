"""Held-out-by-time evaluation of candidate lists on each customer's next purchase."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl


def next_purchase(
    orders: pl.DataFrame, order_items: pl.DataFrame, cutoff: datetime
) -> pl.DataFrame:
    """customer_id, product_id: the products of each customer's first order at or after cutoff."""
    first = (
        orders.filter(pl.col("ordered_at") >= cutoff)
        .sort("ordered_at", "order_id")
        .group_by("customer_id", maintain_order=True)
        .first()
        .select("customer_id", "order_id")
    )
    return (
        first.join(order_items.select("order_id", "product_id"), on="order_id")
        .select("customer_id", "product_id")
        .unique()
    )


def hit_rate_ndcg(lists: pl.DataFrame, target: pl.DataFrame, k: int = 10) -> pl.DataFrame:
    """Per list: customers, hit rate at k (any next-purchase product in the top k) and NDCG at k
    (binary relevance; the ideal puts all of the order's products first). Customers with a target
    but no list count as misses."""
    t_size = target.group_by("customer_id").agg(n_target=pl.len())
    ideal = t_size.with_columns(
        idcg=pl.col("n_target")
        .clip(upper_bound=k)
        .map_elements(
            lambda m: float(np.sum(1 / np.log2(np.arange(2, m + 2)))), return_dtype=pl.Float64
        )
    )
    hits = (
        lists.filter(pl.col("rank") <= k)
        .join(target, on=["customer_id", "product_id"])
        .group_by("list", "customer_id")
        .agg(dcg=(1 / (pl.col("rank") + 1).log(2)).sum())
    )
    names = lists.select("list").unique()
    grid = names.join(ideal, how="cross").join(hits, on=["list", "customer_id"], how="left")
    return (
        grid.group_by("list")
        .agg(
            customers=pl.len(),
            hit_rate_at_k=(pl.col("dcg").is_not_null()).mean(),
            ndcg_at_k=(pl.col("dcg").fill_null(0) / pl.col("idcg")).mean(),
        )
        .sort("hit_rate_at_k", descending=True)
    )
