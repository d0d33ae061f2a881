"""The products a campaign message carries: each customer's top products of one candidate list
(gold.product_candidates) or the trending products of their top category. A customer with no
list (or a category with nothing trending) gets the overall trending or popular products, so the
export never has an empty product column while the catalogue has products."""

from __future__ import annotations

import polars as pl

SEPARATOR = "|"


def campaign_products(
    customer_ids: pl.Series,
    list_name: str,
    count: int,
    candidates: pl.DataFrame,
    trending: pl.DataFrame,
    top_category: pl.DataFrame,
) -> pl.DataFrame:
    """customer_id, product_ids ("P1|P2|P3", best first) for every id in ``customer_ids``.
    ``candidates``: customer_id, list, rank, product_id; ``trending``: category_l1, rank,
    product_id; ``top_category``: customer_id, top_category."""
    who = pl.DataFrame({"customer_id": customer_ids.cast(pl.Utf8)}).unique(maintain_order=True)
    if list_name == "trending":
        by_cat = trending.sort("category_l1", "rank").select(
            pl.col("category_l1").alias("top_category"), "product_id", "rank"
        )
        picked = who.join(top_category, on="customer_id", how="left").join(
            by_cat, on="top_category"
        )
        overall = trending.sort("rank", "category_l1").select("product_id")
    else:
        picked = who.join(
            candidates.filter(pl.col("list") == list_name).select(
                "customer_id", "product_id", "rank"
            ),
            on="customer_id",
        )
        overall = (
            candidates.filter(pl.col("list") == "popular")
            .group_by("product_id")
            .agg(n=pl.len())
            .sort("n", "product_id", descending=[True, False])
            .select("product_id")
        )
    fill = who.join(overall.unique(maintain_order=True).head(count), how="cross").with_columns(
        rank=pl.int_range(1, pl.len() + 1).over("customer_id") + 1_000
    )
    return (
        pl.concat([picked.select("customer_id", "product_id", "rank"), fill])
        .sort("customer_id", "rank")
        .unique(["customer_id", "product_id"], keep="first", maintain_order=True)
        .group_by("customer_id", maintain_order=True)
        .head(count)
        .group_by("customer_id", maintain_order=True)
        .agg(product_ids=pl.col("product_id").str.join(SEPARATOR))
        .join(who, on="customer_id", how="right")
        .select("customer_id", pl.col("product_ids").fill_null(""))
    )
