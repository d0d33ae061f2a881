"""Candidate products per customer: the three rules (a, b, c), the embedding list and the
most-popular-in-category baseline, each ranked by a score (docs/products.md explains them) and
topped up to N from the fallback so no customer has an empty list.

Every list is one Polars frame: customer_id, list, rank (1..N), product_id, score, source
("rule" or "fallback")."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import sparse
from sklearn.preprocessing import normalize

from .behaviour import UNKNOWN, popularity
from .embeddings import Embeddings, best_in_rows, top_k

N = 10
USUAL_SELLERS = 3
SIMILAR_SELLERS = 5
LISTS = ("rule_a", "rule_b", "rule_c", "affinity", "embedding", "popular")
EMBEDDING_POOL = 300
EMBEDDING_SHARPNESS = 4.0


def customer_profile(inter: pl.DataFrame) -> pl.DataFrame:
    """customer_id, last product seen (its category, style and seller), preferred category and
    price band (largest decayed event weight)."""
    last = (
        inter.sort("occurred_at", "product_id")
        .group_by("customer_id")
        .last()
        .select(
            "customer_id",
            last_product_id="product_id",
            last_category="category_l1",
            last_style="style",
            last_seller_id="seller_id",
        )
    )

    def preferred(col: str, name: str) -> pl.DataFrame:
        return (
            inter.group_by("customer_id", col)
            .agg(w=pl.col("weight").sum())
            .sort("customer_id", "w", col, descending=[False, True, False])
            .group_by("customer_id", maintain_order=True)
            .first()
            .select("customer_id", pl.col(col).alias(name))
        )

    return last.join(
        preferred("category_l1", "preferred_category"), on="customer_id", how="left"
    ).join(preferred("price_band", "preferred_price_band"), on="customer_id", how="left")


def usual_sellers(inter: pl.DataFrame, k: int = USUAL_SELLERS) -> pl.DataFrame:
    """customer_id, seller_id, seller_share: the customer's top-k sellers by decayed weight, with
    the share of the customer's weight each holds."""
    w = inter.group_by("customer_id", "seller_id").agg(w=pl.col("weight").sum())
    return (
        w.with_columns(seller_share=pl.col("w") / pl.col("w").sum().over("customer_id"))
        .sort("customer_id", "w", "seller_id", descending=[False, True, False])
        .group_by("customer_id", maintain_order=True)
        .head(k)
        .select("customer_id", "seller_id", "seller_share")
    )


def seller_similarity(inter: pl.DataFrame, k: int = SIMILAR_SELLERS) -> pl.DataFrame:
    """seller_id, similar_seller_id, similarity: cosine of the sellers' customer-weight vectors
    (sellers whose customers overlap), the seller itself first with similarity 1. A seller with no
    behaviour has only itself."""
    w = inter.group_by("customer_id", "seller_id").agg(w=pl.col("weight").sum())
    if w.height == 0:
        schema = {"seller_id": pl.Utf8, "similar_seller_id": pl.Utf8, "similarity": pl.Float64}
        return pl.DataFrame(schema=schema)
    sellers = np.unique(w["seller_id"].to_numpy().astype(str))
    customers, c_idx = np.unique(w["customer_id"].to_numpy().astype(str), return_inverse=True)
    s_idx = np.searchsorted(sellers, w["seller_id"].to_numpy().astype(str))
    m = sparse.csr_matrix((w["w"].to_numpy(), (s_idx, c_idx)), shape=(sellers.size, customers.size))
    m = normalize(m)
    sim = (m @ m.T).toarray()
    np.fill_diagonal(sim, 2.0)  # the seller itself ranks first ...
    idx, val = best_in_rows(sim, min(k, sellers.size))
    val = np.where(idx == np.arange(sellers.size)[:, None], 1.0, val)  # ... with similarity 1
    return pl.DataFrame(
        {
            "seller_id": np.repeat(sellers, idx.shape[1]),
            "similar_seller_id": sellers[idx.ravel()],
            "similarity": val.ravel().astype(np.float64),
        }
    )


GROUP = ["seller_id", "category_l1", "style"]


def _within_group_share(pop: pl.DataFrame, n: int, best_of: list[str] = GROUP) -> pl.DataFrame:
    """Each product's share of its (seller, category, style) popularity, only the n best of each
    ``best_of`` group. A list scores a group's products as the share times a factor of the
    customer and the group alone, so within a group a customer's order is the share's: no product
    past its group's n best can make a customer's top n, and keeping the groups whole joined every
    customer with every product of their sellers (10-20 GB a pass at 100,000 customers)."""
    share = pop.with_columns(
        product_share=pl.col("popularity") / pl.col("popularity").sum().over(GROUP)
    )
    return _best_per_group(share, best_of, "product_share", n)


def _best_per_group(frame: pl.DataFrame, group: list[str], score: str, n: int) -> pl.DataFrame:
    """The n rows of each group with the highest ``score`` (ties: the smaller product id, as the
    lists rank)."""
    return (
        frame.sort(score, "product_id", descending=[True, False])
        .group_by(group, maintain_order=True)
        .head(n)
    )


def _rank(scored: pl.DataFrame, name: str, n: int) -> pl.DataFrame:
    return (
        scored.group_by("customer_id", "product_id")
        .agg(pl.col("score").max())
        .sort("customer_id", "score", "product_id", descending=[False, True, False])
        .group_by("customer_id", maintain_order=True)
        .head(n)
        .with_columns(list=pl.lit(name), rank=pl.int_range(1, pl.len() + 1).over("customer_id"))
    )


def rule_a(profile, sellers_of, pop, n=N) -> pl.DataFrame:
    """Same category and style as the last product seen, from the customer's usual sellers.
    score = seller_share x P(product | seller, category, style)."""
    cand = (
        profile.filter(pl.col("last_category") != UNKNOWN, pl.col("last_style") != UNKNOWN)
        .join(sellers_of, on="customer_id")
        .join(
            _within_group_share(pop, n),
            left_on=["seller_id", "last_category", "last_style"],
            right_on=["seller_id", "category_l1", "style"],
        )
    )
    return _rank(
        cand.select(
            "customer_id", "product_id", score=pl.col("seller_share") * pl.col("product_share")
        ),
        "rule_a",
        n,
    )


def _rule_b_candidates(profile, similar, pop, n, by_band=False) -> pl.DataFrame:
    """Rule b's products with their scores; ``by_band``: only those in the customer's preferred
    price band (rule c)."""
    group, on = GROUP, ["similar_seller_id", "last_category", "last_style"]
    if by_band:  # the n best of each band, which the customer's band then picks
        group, on = [*GROUP, "price_band"], [*on, "preferred_price_band"]
    return (
        profile.filter(pl.col("last_category") != UNKNOWN, pl.col("last_style") != UNKNOWN)
        .join(similar, left_on="last_seller_id", right_on="seller_id")
        .join(_within_group_share(pop, n, group), left_on=on, right_on=group)
        .select("customer_id", "product_id", score=pl.col("similarity") * pl.col("product_share"))
    )


def rule_b(profile, similar, pop, n=N) -> pl.DataFrame:
    """Same category and style as the last product seen, from sellers similar to its seller.
    score = seller similarity x P(product | seller, category, style)."""
    return _rank(_rule_b_candidates(profile, similar, pop, n), "rule_b", n)


def rule_c(profile, similar, pop, n=N) -> pl.DataFrame:
    """Rule b within the customer's preferred price band (score = similarity x the product's
    share of its seller, category and style, as in rule b)."""
    return _rank(_rule_b_candidates(profile, similar, pop, n, by_band=True), "rule_c", n)


def embedding_list(emb: Embeddings, pop: pl.DataFrame, n=N) -> pl.DataFrame:
    """Of the EMBEDDING_POOL products nearest the customer's embedding, the best by
    score = exp(EMBEDDING_SHARPNESS x cosine) x sqrt(popularity): close to the customer's taste
    and bought or viewed lately (cosine alone favours long-tail products nobody buys)."""
    pop_of = (
        pl.DataFrame({"product_id": emb.product_id})
        .join(pop.select("product_id", "popularity"), on="product_id", how="left")
        .sort("product_id")["popularity"]
        .fill_null(0.0)
        .to_numpy()
    )
    idx, cos = top_k(emb.customer, emb.product, EMBEDDING_POOL)
    score = np.exp(EMBEDDING_SHARPNESS * cos) * np.sqrt(pop_of[idx])
    order = np.argsort(-score, axis=1, kind="stable")[:, :n]
    return (
        pl.DataFrame(
            {
                "customer_id": np.repeat(emb.customer_id, order.shape[1]),
                "product_id": emb.product_id[np.take_along_axis(idx, order, 1).ravel()],
                "score": np.take_along_axis(score, order, 1).ravel().astype(np.float64),
            }
        )
        .filter(pl.col("score") > 0)
        .pipe(_rank, "embedding", n)
    )


def affinity(inter: pl.DataFrame, pop: pl.DataFrame, n=N) -> pl.DataFrame:
    """The rules' idea over all of the customer's categories and sellers:
    score = P(category | customer) x P(seller | customer, category) x P(product | seller,
    category), each from decayed event weights (the last from the products' popularity)."""
    by_cat = inter.group_by("customer_id", "category_l1").agg(w=pl.col("weight").sum())
    by_cat = by_cat.select(
        "customer_id", "category_l1", p_cat=pl.col("w") / pl.col("w").sum().over("customer_id")
    )
    by_seller = inter.group_by("customer_id", "category_l1", "seller_id").agg(
        w=pl.col("weight").sum()
    )
    by_seller = by_seller.select(
        "customer_id",
        "category_l1",
        "seller_id",
        p_seller=pl.col("w") / pl.col("w").sum().over("customer_id", "category_l1"),
    )
    share = _best_per_group(
        pop.select(
            "product_id",
            "seller_id",
            "category_l1",
            p_product=pl.col("popularity")
            / pl.col("popularity").sum().over("seller_id", "category_l1"),
        ),
        ["seller_id", "category_l1"],
        "p_product",
        n,
    )
    cand = by_seller.join(by_cat, on=["customer_id", "category_l1"]).join(
        share, on=["seller_id", "category_l1"]
    )
    score = pl.col("p_cat") * pl.col("p_seller") * pl.col("p_product")
    return _rank(cand.select("customer_id", "product_id", score=score), "affinity", n)


def popular_in_category(profile, pop, n=N) -> pl.DataFrame:
    """The baseline: the most popular products of the customer's preferred category.
    score = popularity (event weights of the last 28 days)."""
    top = (
        pop.group_by("category_l1", maintain_order=True)
        .head(n)
        .select("category_l1", "product_id", score="popularity")
    )
    cand = profile.join(top, left_on="preferred_category", right_on="category_l1")
    return _rank(cand.select("customer_id", "product_id", "score"), "popular", n)


def fallback(
    customers: pl.DataFrame, profile: pl.DataFrame, pop: pl.DataFrame, n=N
) -> pl.DataFrame:
    """customer_id, product_id, fallback_rank: popular in the customer's preferred category, then
    popular in the customer's segment (``customers.segment``; customers without behaviour), then
    popular overall. Always n products per customer (when the catalogue has n with behaviour)."""
    profile = profile.join(customers, on="customer_id", how="semi")
    by_cat = popular_in_category(profile, pop, n).select(
        "customer_id", "product_id", fallback_rank="rank"
    )
    overall = pop.head(n).select("product_id", r=pl.int_range(1, pl.len() + 1))
    segment = customers.select("customer_id", "segment")
    seg_pop = (
        segment.join(by_cat, on="customer_id")
        .group_by("segment", "product_id")
        .agg(votes=pl.len())
        .sort("segment", "votes", "product_id", descending=[False, True, False])
        .group_by("segment", maintain_order=True)
        .head(n)
        .with_columns(r=pl.int_range(1, pl.len() + 1).over("segment"))
    )
    by_seg = segment.join(seg_pop, on="segment").select(
        "customer_id", "product_id", fallback_rank=pl.col("r") + n
    )
    by_all = segment.select("customer_id").join(overall, how="cross")
    by_all = by_all.select("customer_id", "product_id", fallback_rank=pl.col("r") + 2 * n)
    return (
        pl.concat([by_cat, by_seg, by_all])
        .sort("customer_id", "fallback_rank")
        .unique(["customer_id", "product_id"], keep="first", maintain_order=True)
    )


def top_up(lst: pl.DataFrame, name: str, fb: pl.DataFrame, n=N) -> pl.DataFrame:
    """The list's own products first, then fallback products not already in it, to n."""
    own = lst.select(
        "customer_id", "product_id", "score", source=pl.lit("rule"), key=pl.col("rank")
    )
    extra = fb.join(own, on=["customer_id", "product_id"], how="anti").select(
        "customer_id",
        "product_id",
        score=pl.lit(None, pl.Float64),
        source=pl.lit("fallback"),
        key=pl.col("fallback_rank") + 10 * n,
    )
    return (
        pl.concat(
            [
                own.with_columns(pl.col("key").cast(pl.Int64)),
                extra.with_columns(pl.col("key").cast(pl.Int64)),
            ]
        )
        .sort("customer_id", "key")
        .group_by("customer_id", maintain_order=True)
        .head(n)
        .select(
            "customer_id",
            list=pl.lit(name),
            rank=pl.int_range(1, pl.len() + 1).over("customer_id").cast(pl.Int64),
            product_id="product_id",
            score="score",
            source="source",
        )
    )


# Customers per pass of the per-customer lists: joining each customer's sellers with their
# products grows with the customers (100,000 customers x 365 days needed over 30 GB at once).
# The lists of a customer depend only on their own behaviour and on the shared popularity,
# seller similarity and fallbacks, so any pass size gives the same rows in the same order (the
# scores to the last bits of a float).
CUSTOMERS_PER_PASS = 20_000


def candidate_lists(
    customers: pl.DataFrame,
    inter: pl.DataFrame,
    emb: Embeddings | None = None,
    n: int = N,
) -> pl.DataFrame:
    """Every list for every customer in ``customers`` (customer_id, optional segment), N products
    each. ``inter`` from behaviour.interactions (before the cutoff)."""
    if "segment" not in customers.columns:
        customers = customers.with_columns(segment=pl.lit("all"))
    customers = customers.select("customer_id", pl.col("segment").fill_null("all"))
    profile = customer_profile(inter)
    pop = popularity(inter)
    fb = fallback(customers, profile, pop, n)
    similar = seller_similarity(inter)
    ids = customers["customer_id"].unique().sort()
    parts: dict[str, list[pl.DataFrame]] = {}
    for start in range(0, max(ids.len(), 1), CUSTOMERS_PER_PASS):
        keep = pl.DataFrame({"customer_id": ids[start : start + CUSTOMERS_PER_PASS]})
        own = inter.join(keep, on="customer_id", how="semi")
        own_profile = profile.join(keep, on="customer_id", how="semi")
        lists = {
            "rule_a": rule_a(own_profile, usual_sellers(own), pop, n),
            "rule_b": rule_b(own_profile, similar, pop, n),
            "rule_c": rule_c(own_profile, similar, pop, n),
            "affinity": affinity(own, pop, n),
            "popular": popular_in_category(own_profile, pop, n),
        }
        if emb is not None:
            in_pass = np.isin(emb.customer_id, keep["customer_id"].to_numpy().astype(str))
            lists["embedding"] = embedding_list(_subset(emb, in_pass), pop, n)
        own_fb = fb.join(keep, on="customer_id", how="semi")
        for name, lst in lists.items():
            parts.setdefault(name, []).append(top_up(lst, name, own_fb, n))
    return pl.concat([frame for frames in parts.values() for frame in frames])


def _subset(emb: Embeddings, rows: np.ndarray) -> Embeddings:
    return Embeddings(
        emb.product_id,
        emb.product,
        emb.customer_id[rows],
        emb.customer[rows],
        emb.seller_id,
        emb.seller,
    )
