"""Trending products and search keywords by KL divergence (the seed's method for ad creatives).

Per category and day: p = each product's share of the category's transactions and bookmarks (views
count a fifth: they add volume where a small marketplace has few transactions) in the
recent window, q = its share in the earlier window (additively smoothed so a product new to the
category has a finite contribution). KL(p || q) = sum p log(p / q) says how much the category
moved; each product's term p log(p / q) ranks the risers. Business rules: at least MIN_RECENT
recent events and listed by the day (the contract has no stock table, so stock itself is not
checked).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

RECENT_DAYS = 3
EARLIER_DAYS = 28
MIN_RECENT = 5
SMOOTHING = 1.0
TOP = 10
SIGNAL_WEIGHT = {"purchase": 1.0, "add_to_cart": 1.0, "bookmark": 1.0, "view": 0.2}


def _window(daily: pl.DataFrame, key: list[str], item: str, day: date) -> pl.DataFrame:
    recent_from = day - timedelta(days=RECENT_DAYS - 1)
    earlier_from = recent_from - timedelta(days=EARLIER_DAYS)
    return (
        daily.filter(pl.col("date").is_between(earlier_from, day))
        .group_by(*key, item)
        .agg(
            recent=pl.col("n").filter(pl.col("date") >= recent_from).sum(),
            earlier=pl.col("n").filter(pl.col("date") < recent_from).sum(),
        )
        .with_columns(as_of=pl.lit(day))
    )


def kl_rank(counts: pl.DataFrame, key: list[str], item: str, min_recent: int) -> pl.DataFrame:
    """counts: key..., item, recent, earlier -> each item's KL contribution and its rank within
    the key (only items with at least ``min_recent`` recent events are ranked), plus the key's
    total divergence."""
    c = counts.with_columns(earlier=pl.col("earlier") + SMOOTHING)
    c = c.with_columns(
        p=pl.col("recent") / pl.col("recent").sum().over(key),
        q=pl.col("earlier") / pl.col("earlier").sum().over(key),
    )
    c = c.with_columns(
        contribution=pl.when(pl.col("p") > 0)
        .then(pl.col("p") * (pl.col("p") / pl.col("q")).log())
        .otherwise(0.0)
    ).with_columns(divergence=pl.col("contribution").sum().over(key))
    return (
        c.filter(pl.col("recent") >= min_recent, pl.col("contribution") > 0)
        .sort(*key, "contribution", item, descending=[False] * len(key) + [True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over(key))
        .drop("p", "q")
    )


def daily_signals(events: pl.DataFrame, products: pl.DataFrame, tz: str) -> pl.DataFrame:
    """date, category_l1, product_id, n: weighted transactions and bookmarks per business day."""
    return (
        events.filter(
            pl.col("event_type").is_in(list(SIGNAL_WEIGHT)), pl.col("product_id").is_not_null()
        )
        .join(
            products.select("product_id", pl.col("category_l1").fill_null("unknown")),
            on="product_id",
            how="left",
        )
        .with_columns(pl.col("category_l1").fill_null("unknown"))
        .group_by(
            date=pl.col("occurred_at").dt.convert_time_zone(tz).dt.date(),
            category_l1="category_l1",
            product_id="product_id",
        )
        .agg(n=pl.col("event_type").replace_strict(SIGNAL_WEIGHT, return_dtype=pl.Float64).sum())
    )


def trending_products(
    events: pl.DataFrame, products: pl.DataFrame, days: list[date], tz: str = "Asia/Seoul"
) -> pl.DataFrame:
    """as_of, category_l1, product_id, recent, earlier, contribution, divergence, rank: the top
    risers of each category on each day in ``days`` (by contribution to the category's KL)."""
    daily = daily_signals(events, products, tz)
    listed = products.select(
        "product_id", listed_on=pl.col("created_at").dt.convert_time_zone(tz).dt.date()
    )
    out = []
    for day in days:  # one pass per reported day, each vectorised over every product
        w = _window(daily, ["category_l1"], "product_id", day)
        w = w.join(listed, on="product_id", how="left").filter(
            pl.col("listed_on").is_null() | (pl.col("listed_on") <= day)
        )
        out.append(kl_rank(w.drop("listed_on"), ["category_l1"], "product_id", MIN_RECENT))
    return pl.concat(out).filter(pl.col("rank") <= TOP)


def popularity_change(events, products, days: list[date], tz: str = "Asia/Seoul") -> pl.DataFrame:
    """The naive comparison: rank by recent minus earlier daily rate (same windows and rules)."""
    daily = daily_signals(events, products, tz)
    out = []
    for day in days:
        w = _window(daily, ["category_l1"], "product_id", day).filter(
            pl.col("recent") >= MIN_RECENT
        )
        w = w.with_columns(change=pl.col("recent") / RECENT_DAYS - pl.col("earlier") / EARLIER_DAYS)
        out.append(
            w.sort(
                "category_l1", "change", "product_id", descending=[False, True, False]
            ).with_columns(rank=pl.int_range(1, pl.len() + 1).over("category_l1"))
        )
    return pl.concat(out).filter(pl.col("rank") <= TOP)


def trending_keywords(
    events: pl.DataFrame, days: list[date], tz: str = "Asia/Seoul", min_recent: int = MIN_RECENT
) -> pl.DataFrame:
    """as_of, search_query, recent, earlier, contribution, divergence, rank over all searches."""
    daily = (
        events.filter(pl.col("event_type") == "search", pl.col("search_query").is_not_null())
        .group_by(
            date=pl.col("occurred_at").dt.convert_time_zone(tz).dt.date(),
            search_query=pl.col("search_query").str.to_lowercase().str.strip_chars(),
        )
        .agg(n=pl.len().cast(pl.Float64))
        .with_columns(scope=pl.lit("all"))
    )
    out = [
        kl_rank(
            _window(daily, ["scope"], "search_query", day), ["scope"], "search_query", min_recent
        )
        for day in days
    ]
    return pl.concat(out).filter(pl.col("rank") <= TOP).drop("scope")


def riser_recall(top: pl.DataFrame, truth: pl.DataFrame, within_days: int = 3) -> float:
    """Share of planted risers (product_id, category_l1, rise_date) in their category's top list on
    some day from their rise to ``within_days`` after it."""
    found = truth.join(top, on=["product_id", "category_l1"], how="left").with_columns(
        hit=pl.col("as_of").is_between(
            pl.col("rise_date"), pl.col("rise_date") + timedelta(days=within_days)
        )
    )
    per = found.group_by("product_id").agg(pl.col("hit").fill_null(False).any())
    return float(per["hit"].mean())
