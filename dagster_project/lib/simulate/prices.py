"""Price drops: a share of the products (WorldConfig.price_drop_share) is marked down once inside
the window, by 10-40 % (rounded to the catalogue's KRW x,x00 price points), at 00:00 business time
of a day drawn uniformly among the product's listed days. From that day every purchase of the
product pays the new price (the day loop's baskets read ``Catalogue.price_on``).

The raw contract carries the history as the optional ``product_prices`` table: one row per
product and price period (the list price from the product's listing, the marked-down price from
the drop's day), which the platform's ``price_drop`` trigger reads. Drawn on their own stream
(``prices``), so a world with drops has every other draw of the same world without them."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from .entities import Catalogue

DROP_RANGE = (0.10, 0.40)
NO_DROP = np.iinfo(np.int32).max  # a drop day that never comes
MIN_DAYS_LISTED = 7  # a product is marked down after a week on sale at the earliest


def plant_price_drops(
    cat: Catalogue, share: float, days: int, rng: np.random.Generator
) -> Catalogue:
    """The catalogue with ``share`` of its products (those listed at least MIN_DAYS_LISTED days
    before the window's last day) marked down once."""
    if share <= 0:
        return cat
    first = np.maximum(cat.created_day + MIN_DAYS_LISTED, 1)
    eligible = first < days
    chosen = eligible & (rng.random(cat.n) < share)
    day = first + (rng.random(cat.n) * np.maximum(days - first, 1)).astype(np.int64)
    pct = rng.uniform(*DROP_RANGE, size=cat.n)
    new = np.maximum(900.0, np.round(cat.price * (1 - pct) / 1000.0) * 1000.0 - 100.0)
    chosen &= new < cat.price
    return dataclasses.replace(
        cat,
        drop_day=np.where(chosen, day, NO_DROP),
        drop_price=np.where(chosen, new, cat.price),
    )


def price_history(cat: Catalogue, to_datetime) -> pl.DataFrame:
    """product_prices: product_id, valid_from (the period's first instant, ``to_datetime(day,
    second of day)`` as the world stamps its rows), price_krw."""
    dropped = cat.drop_day < NO_DROP
    listed = pl.DataFrame(
        {
            "product_id": cat.product_id,
            "valid_from": to_datetime(cat.created_day, cat.created_sec),
            "price_krw": cat.price.astype(np.float64),
        }
    )
    drops = pl.DataFrame(
        {
            "product_id": cat.product_id[dropped],
            "valid_from": to_datetime(cat.drop_day[dropped], np.zeros(int(dropped.sum()), int)),
            "price_krw": cat.drop_price[dropped].astype(np.float64),
        }
    )
    return pl.concat([listed, drops]).sort("product_id", "valid_from")


def drop_truth(cat: Catalogue, start_date) -> pl.DataFrame:
    """truth/price_drops: product_id, drop_day and drop_date (business), list and new price,
    drop_pct."""
    dropped = cat.drop_day < NO_DROP
    return pl.DataFrame(
        {
            "product_id": cat.product_id[dropped],
            "drop_day": cat.drop_day[dropped].astype(np.int32),
            "list_price_krw": cat.price[dropped].astype(np.float64),
            "price_krw": cat.drop_price[dropped].astype(np.float64),
        }
    ).with_columns(
        drop_date=pl.lit(start_date) + pl.duration(days=pl.col("drop_day")),
        drop_pct=1 - pl.col("price_krw") / pl.col("list_price_krw"),
    )
