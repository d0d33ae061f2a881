"""The gold feature snapshots (dbt `feat_*` models), exported as Parquet by the Dagster assets
`features/<entity>__daily`. The files live in the data dir, not in this repo: their folder comes
from MOPT_FEATURES_DIR, with the platform settings' default (`<MOPT_DATA_DIR>/features`, data dir
`<repo>/data`). Feast's DuckDB offline store reads only absolute or working-directory paths, so
the path is resolved here, when the repo is loaded.

With MOPT_FEAST_OFFLINE_STORE=spark (Feast's Spark offline store, docs/scale-out.md) the same
files are SparkSources: Spark reads them for historical retrieval instead of DuckDB."""

import os
from pathlib import Path

from feast import FileSource
from feast.data_format import ParquetFormat

REPO_ROOT = Path(__file__).resolve().parent.parent


def features_dir() -> Path:
    data_dir = Path(os.environ.get("MOPT_DATA_DIR", REPO_ROOT / "data"))
    return Path(os.environ.get("MOPT_FEATURES_DIR", data_dir / "features")).resolve()


def offline_store_type() -> str:
    return os.environ.get("MOPT_FEAST_OFFLINE_STORE", "duckdb")


def _parquet_source(**kwargs):
    """A Parquet file as the offline store's own kind of source (FileSource for DuckDB)."""
    if offline_store_type() == "spark":
        # Feast's Spark offline store reads SparkSources only (it imports pyspark).
        from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import (
            SparkSource,
        )

        return SparkSource(file_format="parquet", **kwargs)
    return FileSource(file_format=ParquetFormat(), **kwargs)


def _daily_snapshots(entity: str):
    model = f"feat_{entity}__daily"
    return _parquet_source(
        name=f"{entity}_daily_source",
        path=str(features_dir() / f"{entity}__daily.parquet"),
        # Naive UTC: the moment the business day's data is complete (start of the next day in the
        # business time zone), so a snapshot is never visible before its day has ended.
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
        description=f"gold.{model}: one row per {entity} per business date.",
        owner="marketing-data",
        tags={"dbt_model": model, "layer": "gold"},
    )


customer_daily_source = _daily_snapshots("customer")
product_daily_source = _daily_snapshots("product")
seller_daily_source = _daily_snapshots("seller")

# Batch scores of the purchase and ZILN models (the Dagster asset gold/customer_scores): one row
# per customer per scoring run, event_timestamp = the as-of time the scores describe.
customer_scores_source = _parquet_source(
    name="customer_scores_source",
    path=str(features_dir() / "customer_scores.parquet"),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="gold.customer_scores: one row per customer per scoring run.",
    owner="marketing-data",
    tags={"asset": "gold/customer_scores", "layer": "gold"},
)


def _product_axis(name: str, what: str):
    """Files the Dagster asset gold/product_candidates writes (dagster_project/defs/products): one
    row per entity, stamped with the end of the as-of business day."""
    return _parquet_source(
        name=f"{name}_source",
        path=str(features_dir() / f"{name}.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
        description=what,
        owner="marketing-data",
        tags={"asset": "gold/product_candidates", "layer": "gold"},
    )


customer_candidates_source = _product_axis(
    "customer_candidates", "Candidate product ids per customer, one list per rule."
)
customer_embedding_source = _product_axis("customer_embedding", "Customer embeddings.")
product_embedding_source = _product_axis("product_embedding", "Product embeddings.")
seller_embedding_source = _product_axis("seller_embedding", "Seller embeddings.")
