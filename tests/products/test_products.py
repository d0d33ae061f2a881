"""The product axis against the simulator's planted truth: candidate lists on the next purchase
(held out by time) against the most-popular-in-category baseline, trending risers, complement
pairs, seller similarity, and the fallbacks for bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from dagster_project.lib.products import candidates, embeddings, pairs, trending
from dagster_project.lib.products.behaviour import interactions
from dagster_project.lib.products.build import build_product_tables
from dagster_project.lib.products.campaign import campaign_products
from dagster_project.lib.products.candidates import candidate_lists, seller_similarity
from dagster_project.lib.products.embeddings import build_embeddings, top_k
from dagster_project.lib.products.evaluate import hit_rate_ndcg, next_purchase
from dagster_project.lib.simulate import WorldConfig, simulate

CFG = WorldConfig(customers=12_000, days=150, seed=5, start_date=date(2025, 3, 1))
HOLDOUT_DAYS = 28


@pytest.fixture(scope="module")
def world():
    return simulate(CFG)


@pytest.fixture(scope="module")
def held_out(world):
    t = world.tables
    cutoff = datetime.combine(CFG.end_date - timedelta(days=HOLDOUT_DAYS), datetime.min.time(), UTC)
    inter = interactions(t["events"], t["products"], cutoff)
    target = next_purchase(t["orders"], t["order_items"], cutoff)
    customers = (
        target.select("customer_id")
        .unique()
        .join(inter.select("customer_id").unique(), on="customer_id")
    )
    emb = build_embeddings(inter, t["products"])
    lists = candidate_lists(customers, inter, emb)
    return inter, lists, target.join(customers, on="customer_id"), emb


def test_best_list_beats_popularity_on_the_next_purchase(held_out):
    _, lists, target, _ = held_out
    scores = hit_rate_ndcg(lists, target)
    by = {r["list"]: r for r in scores.iter_rows(named=True)}
    print(scores)
    assert by["popular"]["customers"] > 500
    assert by["affinity"]["hit_rate_at_k"] >= 1.5 * by["popular"]["hit_rate_at_k"]
    assert by["affinity"]["ndcg_at_k"] >= 1.5 * by["popular"]["ndcg_at_k"]
    assert by["embedding"]["hit_rate_at_k"] > by["popular"]["hit_rate_at_k"]


def test_cooccurrence_is_counted_over_a_seeded_sample_of_customers_past_its_budget() -> None:
    from scipy import sparse

    rng = np.random.default_rng(0)
    x = sparse.random(500, 80, density=0.1, format="csr", random_state=rng)
    pairs = np.diff(x.indptr) ** 2
    assert (embeddings.cooccurrence_customers(x, int(pairs.sum())) == np.arange(500)).all()
    kept = embeddings.cooccurrence_customers(x, int(pairs.sum()) // 3)
    assert 0 < kept.size < 500 and pairs[kept].sum() <= pairs.sum() // 3
    assert (kept == embeddings.cooccurrence_customers(x, int(pairs.sum()) // 3)).all()


def test_embeddings_from_a_sample_of_customers_still_beat_popularity(world, held_out, monkeypatch):
    """At scale the product vectors are learnt from the customers whose pairs fit the budget
    (MAX_COOCCURRENCE_PAIRS); nearly every customer still gets a vector (one whose products no
    sampled customer saw has none, and the lists fall back), and the list still works."""
    inter, _, target, full = held_out
    per_customer = inter.group_by("customer_id").agg(pl.col("product_id").n_unique())
    pairs = int((per_customer["product_id"].cast(pl.Int64) ** 2).sum())
    monkeypatch.setattr(embeddings, "MAX_COOCCURRENCE_PAIRS", pairs // 3)
    emb = build_embeddings(inter, world.tables["products"])
    assert not np.allclose(emb.product, full.product)  # learnt from fewer customers
    with_vector = float((np.linalg.norm(emb.customer, axis=1) > 0).mean())
    assert with_vector >= 0.95, with_vector
    customers = target.select("customer_id").unique()
    scores = hit_rate_ndcg(candidate_lists(customers, inter, emb), target)
    by = {r["list"]: r for r in scores.iter_rows(named=True)}
    assert by["embedding"]["hit_rate_at_k"] > by["popular"]["hit_rate_at_k"], scores


def test_candidate_lists_are_the_same_whatever_the_pass_size(world, held_out, monkeypatch):
    """The lists are computed a pass of customers at a time (memory at scale): any pass size gives
    the same rows in the same order (scores to the last bits of a float: a customer's weights
    are summed in another order)."""
    from polars.testing import assert_frame_equal

    inter, lists, target, emb = held_out
    customers = target.select("customer_id").unique()
    monkeypatch.setattr(candidates, "CUSTOMERS_PER_PASS", 97)
    assert customers.height > 5 * 97
    assert_frame_equal(candidate_lists(customers, inter, emb), lists, check_exact=False, rtol=1e-12)


def test_lists_from_each_groups_best_products_equal_the_lists_from_all_of_them(
    held_out, monkeypatch
):
    """The rules join each customer only with the best products of each seller group (memory at
    scale): the lists are the ones every product of the groups gives."""
    from polars.testing import assert_frame_equal

    inter, lists, target, emb = held_out
    customers = target.select("customer_id").unique()
    kept = candidates._best_per_group(
        candidates.popularity(inter), ["seller_id", "category_l1"], "popularity", candidates.N
    )
    assert kept.height < 0.8 * candidates.popularity(inter).height  # the pruning prunes
    monkeypatch.setattr(candidates, "_best_per_group", lambda frame, *_: frame)
    assert_frame_equal(candidate_lists(customers, inter, emb), lists)


def test_every_list_has_ten_products_per_customer(held_out):
    _, lists, target, _ = held_out
    n = lists.group_by("list", "customer_id").agg(pl.len(), pl.col("product_id").n_unique())
    assert (n["len"] == 10).all() and (n["product_id"] == 10).all()
    assert n["customer_id"].n_unique() == target["customer_id"].n_unique()


def test_similar_sellers_share_the_planted_style_and_price_level(world, held_out):
    inter, _, _, emb = held_out
    truth = world.truth["sellers"]
    sim = seller_similarity(inter).filter(pl.col("seller_id") != pl.col("similar_seller_id"))
    pairs_ = sim.join(truth, on="seller_id").join(
        truth.rename(lambda c: f"{c}_other"),
        left_on="similar_seller_id",
        right_on="seller_id_other",
    )
    same_style = (pairs_["style"] == pairs_["style_other"]).mean()
    gap = (pairs_["price_level"].log() - pairs_["price_level_other"].log()).abs().mean()
    # random pairs: 1 in 8 share a style
    levels = np.log(truth["price_level"].to_numpy())
    random_gap = np.abs(levels[:, None] - levels[None, :]).mean()
    # the seller embeddings' nearest neighbours (cosine), measured against the same truth
    idx, _ = top_k(emb.seller, emb.seller, 6)
    style = dict(zip(truth["seller_id"], truth["style"], strict=True))
    known = np.array([sid in style for sid in emb.seller_id])
    nn = [
        (emb.seller_id[a], emb.seller_id[b])
        for a, row in enumerate(idx)
        if known[a] and np.linalg.norm(emb.seller[a]) > 0
        for b in row
        if b != a and known[b]
    ]
    emb_style = np.mean([style[a] == style[b] for a, b in nn])
    print(
        f"same style {same_style:.2f} (embeddings {emb_style:.2f}), gap {gap:.2f}"
        f" vs random {random_gap:.2f}"
    )
    assert same_style > 2 * (1 / 8)
    assert emb_style > 2 * (1 / 8)
    assert gap < random_gap


# Trending needs volume per product: 40,000 customers over a catalogue of about 2,000 products
# (20 customers a product; the default world has 2.5), with its seasons, best sellers and tail.
TREND_CFG = WorldConfig(
    customers=40_000,
    days=120,
    seed=5,
    start_date=date(2025, 3, 1),
    initial_products=1_500,
    new_products_per_day=4,
    counterfactuals=False,
)


@pytest.fixture(scope="module")
def trend_world():
    return simulate(TREND_CFG)


def _days_after(truth: pl.DataFrame, within: int = 3) -> list[date]:
    return sorted(
        {r + timedelta(days=k) for r in truth["rise_date"].to_list() for k in range(within + 1)}
    )


@pytest.mark.slow
def test_simulator_plants_seasons_and_rising_keywords(trend_world):
    t, tr = trend_world.tables, trend_world.truth
    daily = trending.daily_signals(t["events"], t["products"], "Asia/Seoul")
    for row in tr["seasonal_categories"].iter_rows(named=True):  # 4 rows
        start, cat = (
            row["season_start_date"],
            daily.filter(pl.col("category_l1") == row["category_l1"]),
        )
        before = cat.filter(pl.col("date").is_between(start - timedelta(days=14), start))
        during = cat.filter(
            pl.col("date").is_between(start + timedelta(days=1), start + timedelta(days=14))
        )
        assert during["n"].sum() > 1.3 * before["n"].sum(), row
    searches = trending.daily_queries(t["events"])
    total = searches.group_by("date").agg(all=pl.col("n").sum())
    for row in tr["trending_keywords"].iter_rows(named=True):  # 5 rows
        mine = searches.filter(pl.col("search_query") == row["search_query"]).join(total, on="date")
        after = mine.filter(pl.col("date") >= row["rise_date"])
        share = after["n"].sum() / total.filter(pl.col("date") >= row["rise_date"])["all"].sum()
        assert 0.7 * row["share_of_searches"] < share < 1.3 * row["share_of_searches"] + 0.002, row
        if row["is_new"]:
            assert mine.filter(pl.col("date") < row["rise_date"]).height == 0


@pytest.mark.slow
def test_planted_risers_trend_within_three_days_where_naive_rankings_miss(trend_world):
    t, tr = trend_world.tables, trend_world.truth
    rise = tr["trending_products"]
    days = _days_after(rise)
    kl = trending.riser_recall(trending.trending_products(t["events"], t["products"], days), rise)
    naive = {
        (m, rules): trending.riser_recall(
            trending.naive_trending(t["events"], t["products"], days, m, rules=rules), rise
        )
        for m in trending.NAIVE
        for rules in (True, False)
    }
    print(f"riser recall within 3 days: KL {kl:.2f}; naive {naive}")
    assert tr["seasonal_categories"].height == 4
    assert kl >= 0.85
    # the best sellers are not the risers: popularity misses them
    assert kl >= naive[("most_recent", True)] + 0.5
    # Raw growth and the growth ratio come close to KL and on some worlds match it (seed 5 after
    # session 6's simulator changes: KL 0.88, growth 0.81, ratio 0.88; docs/products.md), so
    # they are printed, not asserted against.
    first = rise["rise_date"].min()
    before = trending.trending_products(t["events"], t["products"], [first - timedelta(days=3)])
    assert before.join(rise, on="product_id", how="semi").height <= 2


@pytest.mark.slow
def test_planted_search_keywords_trend_within_three_days(trend_world):
    t, truth = trend_world.tables, trend_world.truth["trending_keywords"]
    days = _days_after(truth)
    kl = trending.keyword_recall(trending.trending_keywords(t["events"], days), truth)
    most = trending.keyword_recall(trending.naive_keywords(t["events"], days, "most_recent"), truth)
    print(f"keyword recall within 3 days: KL {kl:.2f}, most searched {most:.2f}")
    assert truth["is_new"].sum() >= 1 and (~truth["is_new"]).sum() >= 1
    assert kl >= 0.8
    assert kl >= most + 0.5


def test_planted_complements_are_recovered(world):
    t, tr = world.tables, world.truth
    found = pairs.complements(t["order_items"])
    rec = pairs.planted_pair_recovery(found, tr["complement_pairs"])
    print(rec)
    assert rec["hit_rate_at_5"] >= 0.4
    assert rec["precision_at_5"] >= 0.5  # of the complements listed for the planted anchors
    assert rec["precision_top_pairs"] >= 0.4


def test_pairs_are_the_same_whatever_the_passes(world, monkeypatch):
    """Co-viewed and co-bought pairs are counted a share of the products at a time past a budget
    of pairs (memory at scale): any budget gives the same pairs."""
    from polars.testing import assert_frame_equal

    t = world.tables
    views = t["events"].filter(pl.col("event_type") == "view", pl.col("product_id").is_not_null())
    whole = pairs._pairs(views, "session_id", pairs.MIN_COVIEWS)
    monkeypatch.setattr(pairs, "MAX_PAIRS_PER_PASS", 10_000)
    passes = pairs._pairs(views, "session_id", pairs.MIN_COVIEWS)
    order = ["product_id", "other_product_id"]
    assert whole.height > 10_000
    assert_frame_equal(passes.sort(order), whole.sort(order))


def test_fallbacks_for_bad_input(world):
    t = world.tables
    cutoff = datetime.combine(CFG.end_date, datetime.min.time(), UTC)
    products = t["products"].with_columns(
        style=pl.when(pl.int_range(pl.len()) % 3 == 0).then(None).otherwise("style"),
        category_l1=pl.when(pl.int_range(pl.len()) % 5 == 0).then(None).otherwise("category_l1"),
    )
    inter = interactions(t["events"], products, cutoff)
    no_views = pl.DataFrame({"customer_id": ["NEW1", "NEW2"], "segment": ["vip", None]})
    some = inter.select("customer_id").unique().sort("customer_id").head(50)
    customers = pl.concat([some.with_columns(segment=pl.lit("vip")), no_views])
    lists = candidate_lists(customers, inter)
    n = lists.group_by("list", "customer_id").agg(pl.len())
    assert n.height == 5 * customers.height and (n["len"] == 10).all()
    new = lists.filter(pl.col("customer_id").is_in(["NEW1", "NEW2"]))
    assert (new["source"] == "fallback").all()
    # no views: the popular products of the customer's segment, not of the whole marketplace
    order = {
        c: lists.filter(pl.col("list") == "affinity", pl.col("customer_id") == c)
        .sort("rank")["product_id"]
        .to_list()
        for c in ("NEW1", "NEW2")
    }
    assert order["NEW1"] != order["NEW2"]


def test_product_tables_cover_every_customer_and_feed_feast(world):
    t = world.tables
    customers = t["customers"].select("customer_id", segment=pl.lit("all"))
    tables = build_product_tables(
        customers, t["products"], t["events"], t["orders"], t["order_items"], as_of=CFG.end_date
    )
    n = tables.candidates.group_by("list", "customer_id").agg(pl.len())
    assert n["customer_id"].n_unique() == customers.height and (n["len"] == 10).all()
    wide = tables.feast_files["customer_candidates"]
    assert wide.height == customers.height
    assert (wide["affinity_product_ids"].list.len() == 10).all()
    emb = tables.feast_files["product_embedding"]
    assert emb.height == t["products"].height and (emb["embedding"].list.len() == 32).all()
    assert tables.trending_products["category_l1"].n_unique() >= 6
    assert tables.complements.height > 0 and tables.substitutes.height > 0


def test_campaign_products_never_empty(world, held_out):
    _, lists, _, _ = held_out
    trend = trending.trending_products(
        world.tables["events"], world.tables["products"], [CFG.end_date - timedelta(days=1)]
    )
    ids = pl.concat([lists["customer_id"].unique().head(20), pl.Series(["NOBODY"])])
    top = pl.DataFrame(
        {"customer_id": ["NOBODY"], "top_category": [None]},
        schema_overrides={"top_category": pl.Utf8},
    )
    for name in ("affinity", "trending"):
        out = campaign_products(ids, name, 3, lists, trend, top)
        assert out.height == ids.len()
        assert (out["product_ids"].str.split("|").list.len() == 3).all(), name
    mine = campaign_products(ids.head(5), "affinity", 3, lists, trend, top)
    first = lists.filter(pl.col("list") == "affinity", pl.col("rank") <= 3).sort(
        "customer_id", "rank"
    )
    want = first.group_by("customer_id", maintain_order=True).agg(
        pl.col("product_id").str.join("|")
    )
    assert (
        mine.join(want, on="customer_id")
        .filter(pl.col("product_ids") != pl.col("product_id"))
        .height
        == 0
    )
