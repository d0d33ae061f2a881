"""The product and seller axes in gold: candidate products per customer, embeddings on three axes
(also Parquet files for Feast), trending products and keywords, complements and substitutes.
Domain logic: dagster_project/lib/products (docs/products.md)."""

import dagster as dg
import polars as pl

from dagster_project.defs import metadata as md
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.segments.assets import SEGMENTS_KEY
from dagster_project.defs.transform.assets import model_key

UPSTREAM = (
    "int_events__cleaned",
    "int_products__conformed",
    "int_orders__enriched",
    "int_order_lines__joined",
)
TABLES = {
    "product_candidates": "One row per customer, candidate list (rule_a, rule_b, rule_c, "
    "affinity, embedding, popular) and rank 1-10: product_id, score, source (rule or fallback: "
    "popular in the customer's category, then in their RFM segment, then overall).",
    "trending_products": "One row per category and rank (top 10) as of the last business day: "
    "each product's contribution to the KL divergence of the category's recent (3 days) vs "
    "earlier (28 days) transaction and bookmark shares.",
    "trending_keywords": "One row per rank (top 10): search queries ranked the same way.",
    "product_complements": "One row per product and rank (top 5): co-purchase lift.",
    "product_substitutes": "One row per product and rank (top 5): co-viewed in a session, "
    "same category, rarely bought by the same customers.",
    "customer_embedding": "One row per customer: recency-weighted mean of product vectors.",
    "product_embedding": "One row per product: PPMI-SVD of co-occurrence in customer histories.",
    "seller_embedding": "One row per seller: popularity-weighted mean of its product vectors.",
}
KEYS = {name: dg.AssetKey(["gold", name]) for name in TABLES}


def _read(con) -> dict[str, pl.DataFrame]:
    """The silver tables in the raw contract's shape (what lib/products expects)."""
    sql = {
        "customers": "select c.customer_id, s.rfm_segment as segment from gold.dim_customers c"
        " left join gold.customer_segments s using (customer_id)",
        "products": "select product_id, seller_id, category_l1, style, price_krw as price,"
        " created_at from silver.int_products__conformed",
        "events": "select session_id, customer_id, occurred_at, event_type, product_id,"
        " search_query from silver.int_events__cleaned",
        "orders": "select order_id, customer_id, ordered_at from silver.int_orders__enriched",
        "order_items": "select order_id, product_id from silver.int_order_lines__joined",
    }
    frames = {name: con.sql(q).pl() for name, q in sql.items()}
    # Silver keeps UTC timestamps without a zone; lib/products compares them with aware ones.
    return {
        name: frame.with_columns(
            pl.col(c).dt.replace_time_zone("UTC")
            for c, t in frame.schema.items()
            if isinstance(t, pl.Datetime) and t.time_zone is None
        )
        for name, frame in frames.items()
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key,
            description=TABLES[name],
            deps=[*(model_key(m) for m in UPSTREAM), model_key("dim_customers"), SEGMENTS_KEY],
            group_name="gold",
            kinds={"polars", "duckdb"},
            owners=["team:marketing-data"],
        )
        for name, key in KEYS.items()
    ],
    pool="duckdb",
)
def product_tables(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Every product-axis table from silver as of the last business day with data; the
    candidate lists and embeddings are also written as Parquet for Feast."""
    from pathlib import Path

    from dagster_project.lib.products.build import BEST_LIST, build_product_tables
    from dagster_project.lib.segments.build import data_end_date

    with warehouse.connect(read_only=True) as con:
        as_of = data_end_date(con)
        frames = _read(con)
    tables = build_product_tables(**frames, as_of=as_of)
    gold = {
        "product_candidates": tables.candidates,
        "trending_products": tables.trending_products,
        "trending_keywords": tables.trending_keywords,
        "product_complements": tables.complements,
        "product_substitutes": tables.substitutes,
        **{f"{axis}_embedding": frame for axis, frame in tables.embeddings.items()},
    }
    with warehouse.connect() as con:
        for name, frame in gold.items():
            con.register("frame", frame)
            con.execute(f"create or replace table gold.{name} as select * from frame")
            con.unregister("frame")
    out = Path(warehouse.features_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.feast_files.items():
        frame.write_parquet(out / f"{name}.parquet")
    cands = tables.candidates
    fallback_share = cands.group_by("list").agg(
        fallback_share=(pl.col("source") == "fallback").mean()
    )
    for name, key in KEYS.items():
        frame = gold[name]
        metadata = {"dagster/row_count": frame.height, "as_of_date": str(as_of)}
        if name == "product_candidates":
            metadata["customers"] = cands["customer_id"].n_unique()
            metadata["best_list"] = BEST_LIST
            metadata["fallback_share"] = md.table(fallback_share.sort("list"))
        if name in ("trending_products", "trending_keywords"):
            metadata["preview"] = md.table(frame.head(20))
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)
    context.log.info(f"product tables as of {as_of}: {cands.height:,} candidate rows")
