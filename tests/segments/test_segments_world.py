"""Segments on the simulated world: browsing types recover the simulator's archetypes, and the
category preference finds the simulator's true preferred category."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dagster_project.lib.segments import accuracy, behaviour
from dagster_project.lib.segments.build import build_segments
from dagster_project.lib.segments.config import PreferenceConfig
from dagster_project.lib.warehouse import connect

# Measured: 87.9 % of the customers with two or more sessions of the 5,000-customer test world
# (98.4 % before views followed each customer's style, price level and favourite sellers, issue
# 14: the price of what a customer views now says less about the archetype). A clustering that
# mixed two archetypes would sit near 67 %; one whose names were swapped near 35 %.
MIN_AGREEMENT = 0.85


def test_browsing_types_agree_with_archetypes(world: Path) -> None:
    with connect(world / "warehouse.duckdb", read_only=True) as con:
        tables = build_segments(con)
    truth = pl.read_parquet(world / "raw" / "truth" / "customers.parquet")
    typed = tables.customer_segments.filter(pl.col("browsing_type") != behaviour.UNKNOWN).join(
        truth.select("customer_id", "archetype"), on="customer_id"
    )
    assert typed.height > 2000
    agreement = behaviour.cluster_agreement(typed["browsing_type"], typed["archetype"])
    assert agreement["matched_accuracy"] >= MIN_AGREEMENT, agreement
    # The names are right too, not only the partition.
    assert agreement["named_accuracy"] >= MIN_AGREEMENT, agreement


def test_segment_tables_cover_every_customer_and_are_deterministic(world: Path) -> None:
    with connect(world / "warehouse.duckdb", read_only=True) as con:
        first, second = build_segments(con), build_segments(con)
        customers = con.sql("select count(*) from gold.dim_customers").fetchone()[0]
    seg = first.customer_segments
    assert seg.height == customers and seg["customer_id"].is_unique().all()
    assert seg.equals(second.customer_segments)
    buyers = seg.filter(pl.col("orders") > 0)
    assert set(buyers["rfm_segment"].unique()) <= {
        "champions",
        "loyal",
        "potential_loyalist",
        "new",
        "promising",
        "need_attention",
        "about_to_sleep",
        "at_risk",
        "cant_lose",
        "hibernating",
    }
    assert (seg.filter(pl.col("orders") == 0)["rfm_segment"] == "no_purchase").all()
    assert first.category_preference.height == customers * 8
    pat = first.behaviour_patterns
    # A pattern bit is 1 exactly when the cohort's mean is above the overall mean.
    for i, metric in enumerate(("searches", "page_views", "minutes")):
        bit = pat["pattern"].str.slice(i, 1) == "1"
        assert (bit == (pat[f"{metric}_vs_overall"] > 1)).all()


def test_bayes_preference_finds_the_true_category_better_than_seed_and_popularity(
    world: Path,
) -> None:
    """Against the simulator's true preferred category (truth/customers): the default (bayes)
    beats the seed method and the popularity baseline in top-1 and top-3 accuracy, for buyers
    and for non-buyers; the Bayesian prior alone (no views) already beats the seed method.
    Measured on this world: top-1 buyers 0.988 / seed 0.796 / popularity 0.273, non-buyers
    0.652 / 0.338 / 0.271 (docs/segments.md has the table)."""
    variants = {
        "default": PreferenceConfig(),
        "no_views": PreferenceConfig(view_weight=0.0),
        "seed": PreferenceConfig(method="seed"),
        "popularity": None,
    }
    table = accuracy.compare(world, variants)
    got = {(r["method"], r["group"]): r for r in table.iter_rows(named=True)}
    for group in ("buyers", "non_buyers"):
        assert got[("default", group)]["customers"] > 1000
        for metric in ("top1", "top3"):
            best = got[("default", group)][metric]
            for rival in ("seed", "popularity"):
                assert best >= got[(rival, group)][metric] + 0.05, (group, metric, table)
        assert got[("no_views", group)]["top1"] > got[("seed", group)]["top1"], table
