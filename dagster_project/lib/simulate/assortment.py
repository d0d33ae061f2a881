"""What customers look at and buy, planted so that product features have something to find.

- Customers prefer a style (`Customers.pref_style`) and a price level (from their order value):
  of a few candidate products they take the one that fits best, with Gumbel noise.
- Each customer has favourite sellers, drawn among sellers of their style and price level: about
  half of their views and basket lines come from them. Sellers with the same style and a close
  price level therefore share customers (the planted seller similarity).
- Products have a lasting popularity (LogNormal weight): candidates are drawn in proportion.
- Complement pairs: an anchor product pulls its partner (another category, same style) into the
  basket with probability COMPLEMENT_PROB.
- Risers: a few products per category gain a share of their category's views and basket lines
  from a known day on (their rise day). The share is a few times the average product's
  (RISER_LIFT), less than the category's best sellers get, so the risers are not the most sold.
- Seasons: half of the categories come into season a few days before their risers rise: for
  SEASON_DAYS the category draws SEASON_MULT x its usual weight when customers browse outside
  their preferred category, so every product of it is viewed, bookmarked and carted more (a
  category-wide rise, not a trend of any one product; the other half stays flat). Baskets keep
  their category mix, so category revenue (what the demand forecasts model) is unchanged.
- Rising search keywords: a few keywords (new phrases and existing ones) take a share of all
  searches from a known day on.

Everything is a vectorised function of the uniforms the caller passes (the view stream or the
keyed order stream), so the same seed gives the same world.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from .entities import Catalogue, Customers, Sellers
from .params import CAT_NAMES, CATEGORIES, STYLES, WorldConfig

FAVOURITE_SELLERS = 2
FAVOURITE_SHARE = (
    0.5  # of views and basket lines from a favourite seller (when it lists the category)
)
CANDIDATES = 4  # products a customer weighs before taking one
STYLE_BONUS = 3.0  # utility of a product in the customer's style
PRICE_WEIGHT = 2.0  # utility lost per unit of |log price - log target price| (views)
BASKET_PRICE_WEIGHT = 3.0  # baskets follow the customer's order value closely
POPULARITY_SIGMA = 1.0
COMPLEMENT_PAIRS_PER_CATEGORY = 6
COMPLEMENT_PROB = 0.6
RISERS_PER_CATEGORY = 2
# Each riser's share of its category once risen: LogUniform over this range x the average
# product's share (1 / products listed in the category). A riser sells 3-6x what it did (it is
# below the median, about 0.5x the average) but less than the category's best sellers (measured:
# the top product 4-9x the average, the 10th 2-3x), so most-sold-recently misses most of them.
RISER_LIFT = (1.5, 3.0)
SEASONAL_CATEGORIES = 4  # of the 8, chosen at random; the others stay flat
SEASON_MULT = 15.0  # the category's weight in the views outside the customer's own category
SEASON_LEAD = (2, 8)  # days from the season's start to the category's first rise
SEASON_DAYS = 28
# Rising search keywords: a few new phrases and existing queries, each taking this share of all
# searches from its rise day (most searched terms get about 0.4 %).
KEYWORD_SHARE = (0.002, 0.004)
NEW_KEYWORDS = ("balletcore flats", "gorpcore jacket", "quiet luxury bag")
EXISTING_RISING_KEYWORDS = 2
# Complements go from clothing to what is worn with it.
COMPLEMENT_OF = {
    "womens_clothing": "bags",
    "mens_clothing": "shoes",
    "shoes": "accessories",
    "sports": "shoes",
    "kids": "kids",
    "bags": "accessories",
    "accessories": "bags",
    "beauty": "beauty",
}


@dataclass
class Assortment:
    popularity: np.ndarray  # per product (working order)
    cum_pop: np.ndarray  # running sum of popularity in working order
    sc_order: np.ndarray  # working positions sorted by (seller, category, listing)
    sc_start: np.ndarray  # (n_sellers * n_cat,) first index into sc_order
    sc_avail: np.ndarray  # (n_sellers * n_cat, days + 1) listed before day d
    sc_cum: np.ndarray  # running popularity in sc_order
    price_band: np.ndarray  # per product: 0 low, 1 mid, 2 high (tercile within category)
    cust_price_level: np.ndarray  # per customer, multiplies the category median price
    cust_band: np.ndarray  # per customer: the band of their target price
    favourites: np.ndarray  # (n_customers, FAVOURITE_SELLERS) seller indices
    partner: np.ndarray  # per product: its planted complement or -1
    risers: np.ndarray  # product positions, sorted by (category, rise day)
    riser_day: np.ndarray
    riser_cat: np.ndarray
    riser_share: np.ndarray  # per riser: its share of the category once risen
    riser_cum: np.ndarray  # (n_cat, days, risers per category) running share of the risen risers
    season_start: np.ndarray  # per category: first day in season, or -1 (never)
    other_cdf: np.ndarray  # (days + 1, n_cat) cumulative category weights outside the own category
    keyword: np.ndarray  # rising keywords (text)
    keyword_day: np.ndarray
    keyword_share: np.ndarray

    # ---- choosing ----------------------------------------------------------------------------
    def _popular_in(self, cum: np.ndarray, start: np.ndarray, count: np.ndarray, u: np.ndarray):
        """An index in [start, start + count) drawn in proportion to popularity (count >= 1)."""
        lo = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
        hi = cum[start + count - 1]
        idx = np.searchsorted(cum, lo + u * (hi - lo), side="right")
        return np.clip(idx, start, start + count - 1)

    def choose(
        self,
        cust: Customers,
        catalogue: Catalogue,
        i: np.ndarray,
        d: np.ndarray,
        cat: np.ndarray,
        log_target: np.ndarray,
        price_weight: float,
        uniform: Callable[[int], np.ndarray],
    ) -> np.ndarray:
        """Products (working positions) for customers ``i`` on days ``d`` in categories ``cat``.
        ``uniform(m)`` gives the m-th array of uniforms aligned with ``i``."""
        n_cat = len(CAT_NAMES)
        fav = self.favourites[i, (uniform(0) * FAVOURITE_SELLERS).astype(np.int64)]
        sc = fav * n_cat + cat
        sc_count = self.sc_avail[sc, d]
        from_fav = (uniform(1) < FAVOURITE_SHARE) & (sc_count > 0)
        best = np.zeros(i.size, dtype=np.int64)
        best_u = np.full(i.size, -np.inf)
        for m in range(CANDIDATES):
            u = uniform(2 + m)
            cat_pick = self._popular_in(
                self.cum_pop, catalogue.block_start[cat], catalogue.avail[cat, d], u
            )
            fav_pick = self.sc_order[
                self._popular_in(self.sc_cum, self.sc_start[sc], np.maximum(sc_count, 1), u)
            ]
            p = np.where(from_fav, fav_pick, cat_pick)
            utility = (
                STYLE_BONUS * (catalogue.style[p] == cust.pref_style[i])
                - price_weight * np.abs(np.log(catalogue.price[p]) - log_target)
                - np.log(-np.log(np.maximum(uniform(2 + CANDIDATES + m), 1e-12)))  # Gumbel
            )
            better = utility > best_u
            best, best_u = np.where(better, p, best), np.where(better, utility, best_u)
        # Risers take their share of the category once risen.
        day = np.minimum(d, self.riser_cum.shape[1] - 1)
        cum = self.riser_cum[cat, day]  # (n, risers per category)
        u = uniform(2 + 2 * CANDIDATES)
        k = (u[:, None] >= cum).sum(axis=1)  # which riser's slice u falls in (k = slots: none)
        first = np.searchsorted(self.riser_cat, cat, side="left")
        riser = self.risers[np.minimum(first + k, self.risers.size - 1)]
        return np.where(k < cum.shape[1], riser, best)

    def other_category(self, d: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The category of a view outside the customer's own category on day ``d``: by the
        categories' popularity, x SEASON_MULT for a category in season."""
        cdf = self.other_cdf[np.minimum(d, self.other_cdf.shape[0] - 1)]
        return np.minimum((u[:, None] >= cdf).sum(axis=1), cdf.shape[1] - 1)

    def plant_keywords(self, query: np.ndarray, d: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Searches on day ``d`` (uniforms ``u``): a rising keyword replaces the query with its
        share from its rise day on."""
        if self.keyword.size == 0:
            return query
        share = np.where(d[:, None] >= self.keyword_day[None, :], self.keyword_share[None, :], 0.0)
        cum = np.cumsum(share, axis=1)
        k = (u[:, None] >= cum).sum(axis=1)
        return np.where(
            k < self.keyword.size, self.keyword[np.minimum(k, self.keyword.size - 1)], query
        )

    def view_target(self, catalogue_median: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.log(catalogue_median * self.cust_price_level[i])


def category_median() -> np.ndarray:
    return np.array([CATEGORIES[c][1] for c in CAT_NAMES], dtype=np.float64)


def build_assortment(
    cfg: WorldConfig,
    rng: np.random.Generator,
    cust: Customers,
    sellers: Sellers,
    catalogue: Catalogue,
) -> Assortment:
    n_cat, days = len(CAT_NAMES), cfg.days
    popularity = rng.lognormal(0.0, POPULARITY_SIGMA, size=catalogue.n)
    price_band = _price_band(catalogue)

    # Sellers by (seller, category, listing): a seller's products in a category listed before a
    # day are a prefix of its block, as in the catalogue.
    sc_key = catalogue.seller * n_cat + catalogue.cat
    sc_order = np.lexsort((catalogue.created_day, sc_key))
    sc_sorted = sc_key[sc_order]
    created_sorted = catalogue.created_day[sc_order]
    n_sc = sellers.n * n_cat
    sc_start = np.searchsorted(sc_sorted, np.arange(n_sc), side="left")
    sc_end = np.searchsorted(sc_sorted, np.arange(n_sc), side="right")
    sc_avail = np.zeros((n_sc, days + 1), dtype=np.int64)
    for b in np.flatnonzero(sc_end > sc_start):
        sc_avail[b] = np.searchsorted(
            created_sorted[sc_start[b] : sc_end[b]], np.arange(days + 1), side="left"
        )

    # Customers' price level: their order value relative to the median customer, damped.
    level = np.exp(0.7 * (cust.value_mu - np.median(cust.value_mu)))
    cust_band = np.digitize(np.log(level), [-0.25, 0.25])

    # Favourite sellers: the customer's style (x8) and a close price level, and seller size.
    size = np.bincount(catalogue.seller, minlength=sellers.n).astype(np.float64)

    def weights(rows: slice) -> np.ndarray:
        gap = np.log(level[rows])[:, None] - np.log(sellers.price_level)[None, :]
        return (
            size[None, :]
            * np.where(cust.pref_style[rows, None] == sellers.style[None, :], 8.0, 1.0)
            * np.exp(-0.5 * (gap / 0.3) ** 2)
            + 1e-9
        )

    # By blocks of customers: the (customers, sellers) weights are 40 GB at 1M customers and
    # 5,000 sellers. The draws follow the same stream as one (customers, sellers) draw.
    step = max(1, 4_000_000 // max(sellers.n, 1))
    favourites = np.concatenate(
        [
            _draw_without_replacement(rng, weights(slice(a, a + step)), FAVOURITE_SELLERS)
            for a in range(0, cust.n, step)
        ]
    )

    partner = _complement_pairs(rng, catalogue, popularity)
    risers, riser_day, riser_cat = _risers(rng, cfg, catalogue, popularity)
    lo, hi = np.log(RISER_LIFT)
    listed = catalogue.avail[riser_cat, np.minimum(riser_day, days)]
    riser_share = np.exp(rng.uniform(lo, hi, size=risers.size)) / np.maximum(listed, 1)
    # Running shares over the category's risers (zero until risen): a uniform below the k-th
    # boundary and above the one before picks riser k; above the last, no riser.
    riser_cum = np.zeros((n_cat, days, RISERS_PER_CATEGORY))
    for c in range(n_cat):
        mine = np.flatnonzero(riser_cat == c)
        share = np.zeros((days, RISERS_PER_CATEGORY))
        share[:, : mine.size] = np.where(
            np.arange(days)[:, None] >= riser_day[mine][None, :], riser_share[mine][None, :], 0.0
        )
        riser_cum[c] = np.cumsum(share, axis=1)
    season_start, other_cdf = _seasons(rng, cfg, riser_cat, riser_day)
    keyword, keyword_day, keyword_share = _rising_keywords(rng, cfg)
    return Assortment(
        popularity=popularity,
        cum_pop=np.cumsum(popularity),
        sc_order=sc_order,
        sc_start=np.minimum(sc_start, catalogue.n - 1),
        sc_avail=sc_avail,
        sc_cum=np.cumsum(popularity[sc_order]),
        price_band=price_band,
        cust_price_level=level,
        cust_band=cust_band,
        favourites=favourites,
        partner=partner,
        risers=risers,
        riser_day=riser_day,
        riser_cat=riser_cat,
        riser_share=riser_share,
        riser_cum=riser_cum,
        season_start=season_start,
        other_cdf=other_cdf,
        keyword=keyword,
        keyword_day=keyword_day,
        keyword_share=keyword_share,
    )


def _price_band(catalogue: Catalogue) -> np.ndarray:
    """0/1/2: the product's price tercile within its category."""
    df = pl.DataFrame({"cat": catalogue.cat, "price": catalogue.price})
    return (
        df.select(
            band=(pl.col("price").rank("ordinal").over("cat") * 3 // (pl.len().over("cat") + 1))
        )["band"]
        .clip(0, 2)
        .to_numpy()
        .astype(np.int64)
    )


def _draw_without_replacement(rng: np.random.Generator, w: np.ndarray, k: int) -> np.ndarray:
    """k distinct columns per row, drawn in proportion to ``w`` (Gumbel top-k)."""
    keys = np.log(w) - np.log(-np.log(rng.random(w.shape)))
    if k >= w.shape[1]:
        return np.argsort(-keys, axis=1)[:, :k]
    # The k largest keys in descending order (as a full argsort's first k: no ties).
    top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def _complement_pairs(rng, catalogue: Catalogue, popularity: np.ndarray) -> np.ndarray:
    """Per category, a few popular pre-window products each get a partner of the same style in
    the complementary category (also listed before the window)."""
    partner = np.full(catalogue.n, -1, dtype=np.int64)
    free = catalogue.created_day < 0  # not yet in a pair
    for c, name in enumerate(CAT_NAMES):
        other = CAT_NAMES.index(COMPLEMENT_OF[name])
        anchors = np.flatnonzero((catalogue.cat == c) & free)
        anchors = rng.permutation(anchors[np.argsort(-popularity[anchors], kind="stable")][:40])
        n_done = 0
        for a in anchors:
            pool = np.flatnonzero(
                free & (catalogue.cat == other) & (catalogue.style == catalogue.style[a])
            )
            pool = pool[pool != a]
            if n_done == COMPLEMENT_PAIRS_PER_CATEGORY or not free[a] or pool.size == 0:
                continue
            b = int(rng.choice(pool))
            partner[a] = b
            free[[a, b]] = False
            n_done += 1
    return partner


def _risers(rng, cfg: WorldConfig, catalogue: Catalogue, popularity: np.ndarray):
    """Per category, RISERS_PER_CATEGORY ordinary pre-window products that start to rise on a
    day in the last third of the window (at least 10 days before its end)."""
    days = cfg.days
    lo, hi = max(1, (2 * days) // 3 - 10), max(2, days - 10)
    rows = []
    for c in range(len(CAT_NAMES)):
        pool = np.flatnonzero((catalogue.cat == c) & (catalogue.created_day < 0))
        # ordinary products: below the category's median popularity, so the rise is the news
        pool = pool[popularity[pool] < np.median(popularity[pool])]
        picks = rng.choice(pool, size=min(RISERS_PER_CATEGORY, pool.size), replace=False)
        for p in picks:
            rows.append((c, int(rng.integers(lo, hi)), int(p)))
    rows.sort()
    cat = np.array([r[0] for r in rows], dtype=np.int64)
    day = np.array([r[1] for r in rows], dtype=np.int64)
    prod = np.array([r[2] for r in rows], dtype=np.int64)
    return prod, day, cat


def _seasons(rng, cfg: WorldConfig, riser_cat: np.ndarray, riser_day: np.ndarray):
    """SEASONAL_CATEGORIES categories come into season SEASON_LEAD days before their first rise;
    the cumulative category weights of the draws outside a customer's own category, per day."""
    n_cat, days = len(CAT_NAMES), cfg.days
    pop = np.array([CATEGORIES[c][0] for c in CAT_NAMES], dtype=np.float64)
    start = np.full(n_cat, -1, dtype=np.int64)
    for c in rng.choice(n_cat, size=SEASONAL_CATEGORIES, replace=False):
        mine = riser_day[riser_cat == c]
        if mine.size:
            start[c] = max(0, int(mine.min()) - int(rng.integers(*SEASON_LEAD, endpoint=True)))
    day = np.arange(days + 1)[:, None]
    on = (start[None, :] >= 0) & (day >= start[None, :]) & (day < start[None, :] + SEASON_DAYS)
    w = pop[None, :] * np.where(on, SEASON_MULT, 1.0)
    cdf = np.cumsum(w, axis=1)
    return start, cdf / cdf[:, -1:]


def _rising_keywords(rng, cfg: WorldConfig):
    """NEW_KEYWORDS and EXISTING_RISING_KEYWORDS of the simulator's query vocabulary, each from a
    rise day in the last third of the window, at least 10 days before its end."""
    existing = [
        f"{style} {l2.replace('_', ' ')}"
        for c in CAT_NAMES
        for l2 in CATEGORIES[c][2]
        for style in STYLES
    ]
    picks = rng.choice(len(existing), size=EXISTING_RISING_KEYWORDS, replace=False)
    words = np.array([*NEW_KEYWORDS, *(existing[k] for k in picks)])
    lo, hi = max(1, (2 * cfg.days) // 3 - 10), max(2, cfg.days - 10)
    day = rng.integers(lo, hi, size=words.size)
    share = np.exp(rng.uniform(*np.log(KEYWORD_SHARE), size=words.size))
    return words, day, share


def assortment_truth(
    a: Assortment,
    cust: Customers,
    sellers: Sellers,
    catalogue: Catalogue,
    customer_id: np.ndarray,
    seller_id: np.ndarray,
    start_date,
) -> dict[str, pl.DataFrame]:
    start = np.datetime64(start_date, "D")
    bands = np.array(["low", "mid", "high"])
    has = np.flatnonzero(a.partner >= 0)
    return {
        "customer_preferences": pl.DataFrame(
            {
                "customer_id": customer_id.astype(str),
                "preferred_style": np.array(STYLES)[cust.pref_style],
                "price_level": a.cust_price_level.astype(np.float64),
                "preferred_price_band": bands[a.cust_band],
                "favourite_seller_ids": [
                    list(r) for r in seller_id[a.favourites].astype(str).tolist()
                ],
            }
        ).sort("customer_id"),
        "sellers": pl.DataFrame(
            {
                "seller_id": seller_id.astype(str),
                "style": np.array(STYLES)[sellers.style],
                "price_level": sellers.price_level.astype(np.float64),
                "main_category": np.array(CAT_NAMES)[sellers.main_cat],
            }
        ).sort("seller_id"),
        "products": pl.DataFrame(
            {
                "product_id": catalogue.product_id.astype(str),
                "popularity": a.popularity,
                "price_band": bands[a.price_band],
            }
        ).sort("product_id"),
        "complement_pairs": pl.DataFrame(
            {
                "product_id": catalogue.product_id[has].astype(str),
                "complement_product_id": catalogue.product_id[a.partner[has]].astype(str),
                "probability": np.full(has.size, COMPLEMENT_PROB),
            }
        ).sort("product_id"),
        "trending_products": pl.DataFrame(
            {
                "product_id": catalogue.product_id[a.risers].astype(str),
                "category_l1": np.array(CAT_NAMES)[a.riser_cat],
                "rise_date": start + a.riser_day,
                "share_of_category": a.riser_share,
            }
        )
        .with_columns(pl.col("rise_date").cast(pl.Date))
        .sort("category_l1", "rise_date", "product_id"),
        "seasonal_categories": pl.DataFrame(
            {
                "category_l1": np.array(CAT_NAMES)[a.season_start >= 0],
                "season_start_date": start + a.season_start[a.season_start >= 0],
                "multiplier": np.full(int((a.season_start >= 0).sum()), SEASON_MULT),
            }
        )
        .with_columns(pl.col("season_start_date").cast(pl.Date))
        .sort("category_l1"),
        "trending_keywords": pl.DataFrame(
            {
                "search_query": a.keyword,
                "rise_date": start + a.keyword_day,
                "share_of_searches": a.keyword_share,
                "is_new": np.isin(a.keyword, NEW_KEYWORDS),
            }
        )
        .with_columns(pl.col("rise_date").cast(pl.Date))
        .sort("rise_date", "search_query"),
    }
