"""Trending products and search keywords by KL divergence (the seed's method for ad creatives).

Per category and day: p = each product's share of the category's transactions and bookmarks (views
count a fifth: they add volume where a small marketplace has few transactions) in the
recent window, q = its share in the earlier window (additively smoothed so a product new to the
category has a finite contribution). KL(p || q) = sum p log(p / q) says how much the category
moved; each product's term p log(p / q) ranks the risers. Business rules: at least MIN_RECENT
recent events and listed MIN_HISTORY_DAYS before the recent window (the contract has no stock
table, so stock itself is not checked).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

RECENT_DAYS = 3
EARLIER_DAYS = 28
MIN_RECENT = 5
MIN_HISTORY_DAYS = 7  # listed at least this long before the recent window to be ranked
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
    keep = (pl.col("recent") >= min_recent) & (pl.col("contribution") > 0)
    if "eligible" in c.columns:  # the business rules beyond volume (e.g. enough history)
        keep &= pl.col("eligible")
    return (
        c.filter(keep)
        .sort(*key, "contribution", item, descending=[False] * len(key) + [True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over(key))
        .drop("p", "q", *(["eligible"] if "eligible" in c.columns else []))
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


def _product_windows(events, products, days: list[date], tz: str):
    """Per day in ``days``: the category windows of the products listed by then, each with
    ``eligible`` = listed MIN_HISTORY_DAYS before the recent window (a product new to the
    catalogue has no earlier share to rise from: it is news, not a trend)."""
    daily = daily_signals(events, products, tz)
    listed = products.select(
        "product_id", listed_on=pl.col("created_at").dt.convert_time_zone(tz).dt.date()
    )
    for day in days:  # one pass per reported day, each vectorised over every product
        history_from = day - timedelta(days=RECENT_DAYS - 1 + MIN_HISTORY_DAYS)
        w = _window(daily, ["category_l1"], "product_id", day)
        yield (
            w.join(listed, on="product_id", how="left")
            .filter(pl.col("listed_on").is_null() | (pl.col("listed_on") <= day))
            .with_columns(
                eligible=pl.col("listed_on").is_null() | (pl.col("listed_on") <= history_from)
            )
            .drop("listed_on")
        )


def trending_products(
    events: pl.DataFrame, products: pl.DataFrame, days: list[date], tz: str = "Asia/Seoul"
) -> pl.DataFrame:
    """as_of, category_l1, product_id, recent, earlier, contribution, divergence, rank: the top
    risers of each category on each day in ``days`` (by contribution to the category's KL)."""
    out = [
        kl_rank(w, ["category_l1"], "product_id", MIN_RECENT)
        for w in _product_windows(events, products, days, tz)
    ]
    return pl.concat(out).filter(pl.col("rank") <= TOP)


NAIVE = {
    # what a team without the KL method would rank by, in the same windows and with the same rules
    "growth": pl.col("recent") / RECENT_DAYS - pl.col("earlier") / EARLIER_DAYS,
    "most_recent": pl.col("recent"),
    # growth in per cent: the daily rate against the earlier one (smoothed as KL's q)
    "ratio": (pl.col("recent") / RECENT_DAYS) / ((pl.col("earlier") + SMOOTHING) / EARLIER_DAYS),
}


def naive_trending(
    events,
    products,
    days: list[date],
    method: str = "growth",
    tz: str = "Asia/Seoul",
    rules: bool = True,
) -> pl.DataFrame:
    """The naive comparisons (``NAIVE``): raw growth in the daily rate, the most sold recently,
    or the growth ratio; same windows as the KL ranking, and with ``rules`` its business rules."""
    out = []
    for w in _product_windows(events, products, days, tz):
        if rules:
            w = w.filter(pl.col("recent") >= MIN_RECENT, "eligible")
        w = w.drop("eligible")
        w = w.with_columns(change=NAIVE[method])
        out.append(
            w.sort(
                "category_l1", "change", "product_id", descending=[False, True, False]
            ).with_columns(rank=pl.int_range(1, pl.len() + 1).over("category_l1"))
        )
    return pl.concat(out).filter(pl.col("rank") <= TOP)


def daily_queries(events: pl.DataFrame, tz: str = "Asia/Seoul") -> pl.DataFrame:
    """date, search_query (lower-cased, trimmed), n, scope: searches per business day."""
    return (
        events.filter(pl.col("event_type") == "search", pl.col("search_query").is_not_null())
        .group_by(
            date=pl.col("occurred_at").dt.convert_time_zone(tz).dt.date(),
            search_query=pl.col("search_query").str.to_lowercase().str.strip_chars(),
        )
        .agg(n=pl.len().cast(pl.Float64))
        .filter(pl.col("search_query") != "")
        .with_columns(scope=pl.lit("all"))
    )


def trending_keywords(
    events: pl.DataFrame, days: list[date], tz: str = "Asia/Seoul", min_recent: int = MIN_RECENT
) -> pl.DataFrame:
    """as_of, search_query, recent, earlier, contribution, divergence, rank over all searches."""
    daily = daily_queries(events, tz)
    out = [
        kl_rank(
            _window(daily, ["scope"], "search_query", day), ["scope"], "search_query", min_recent
        )
        for day in days
    ]
    return pl.concat(out).filter(pl.col("rank") <= TOP).drop("scope")


def naive_keywords(
    events: pl.DataFrame, days: list[date], method: str = "growth", tz: str = "Asia/Seoul"
) -> pl.DataFrame:
    """The naive keyword rankings (``NAIVE``), same windows and minimum volume."""
    daily = daily_queries(events, tz)
    out = []
    for day in days:
        w = _window(daily, ["scope"], "search_query", day).filter(pl.col("recent") >= MIN_RECENT)
        out.append(
            w.with_columns(change=NAIVE[method])
            .sort("change", "search_query", descending=[True, False])
            .with_columns(rank=pl.int_range(1, pl.len() + 1))
        )
    return pl.concat(out).filter(pl.col("rank") <= TOP).drop("scope")


def keyword_recall(top: pl.DataFrame, truth: pl.DataFrame, within_days: int = 3) -> float:
    """Share of planted rising keywords (search_query, rise_date) in the top list on some day from
    their rise to ``within_days`` after it."""
    return riser_recall(
        top.with_columns(category_l1=pl.lit("all"), product_id="search_query"),
        truth.select(product_id="search_query", category_l1=pl.lit("all"), rise_date="rise_date"),
        within_days,
    )


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
