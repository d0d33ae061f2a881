"""How well each category-preference method finds the simulator's true preferred category:
`python -m dagster_project.lib.segments.accuracy WORLD_DIR` (a folder with raw/truth/ and
warehouse.duckdb) prints top-1 / top-3 accuracy for buyers and non-buyers per method."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import polars as pl

from dagster_project.lib.segments import preference
from dagster_project.lib.segments.build import purchased_lines
from dagster_project.lib.segments.config import PreferenceConfig
from dagster_project.lib.warehouse import connect, markdown_table

BAYES = PreferenceConfig()
# The methods compared: the naive baseline, the seed method, and the Bayesian one's variants.
VARIANTS: dict[str, PreferenceConfig | None] = {
    "popularity": None,
    "seed": PreferenceConfig(method="seed"),
    "bayes, population prior, purchases only": replace(BAYES, prior="population", view_weight=0),
    "bayes, cell prior, purchases only": replace(BAYES, view_weight=0),
    **{
        f"bayes, cell prior, views x {w}": replace(BAYES, view_weight=w)
        for w in (0.1, 0.25, 0.5, 1)
    },
}


def compare(world: Path, variants: dict[str, PreferenceConfig | None] = VARIANTS) -> pl.DataFrame:
    """One row per method and customer group: customers, top1, top3."""
    with connect(world / "warehouse.duckdb", read_only=True) as con:
        customers = con.sql("select customer_id, gender, age_band from gold.dim_customers").pl()
        lines, categories = purchased_lines(con)
        views = preference.product_views(
            con.sql(
                "select customer_id, event_type, product_id from silver.int_events__cleaned"
            ).pl(),
            con.sql("select product_id, category_l1 from silver.int_products__conformed").pl(),
        )
    truth = pl.read_parquet(world / "raw" / "truth" / "customers.parquet")
    rows = []
    for name, cfg in variants.items():
        index = preference.preference_index(
            lines, customers, categories, cfg or PreferenceConfig(method="seed"), views
        )
        if cfg is None:
            index = preference.popularity_ranking(index)
        rows.append(preference.top_k_accuracy(index, truth).with_columns(method=pl.lit(name)))
    return pl.concat(rows).select("method", "group", "customers", "top1", "top3")


def main() -> None:
    table = compare(Path(sys.argv[1]))
    wide = table.pivot(on="group", index="method", values=["top1", "top3"])
    print(markdown_table(wide.with_columns(pl.selectors.float().round(3))))
    print(table.group_by("group").agg(pl.col("customers").first()))


if __name__ == "__main__":
    main()
