"""Audience exports for the sending system: treatment only, with the send time."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dagster_project.lib.campaigns.audience import Audience

EXPORT_COLUMNS = (
    "campaign_id",
    "customer_id",
    "channel",
    "creative_id",
    "sent_at",
    "send_local",
    "time_zone",
    "coupon_type",
    "coupon_value",
    "coupon_min_order",
)


def export_frame(audience: Audience, products: pl.DataFrame | None = None) -> pl.DataFrame:
    """The treatment rows; with ``products`` (customer_id, product_ids: "P1|P2|P3", from
    lib/products/campaign.py), the products the message carries."""
    frame = audience.treatment.select(EXPORT_COLUMNS).rename({"sent_at": "send_at_utc"})
    if products is not None:
        frame = frame.join(products, on="customer_id", how="left")
    return frame.sort("customer_id")


def write_exports(
    audience: Audience, folder: str | Path, products: pl.DataFrame | None = None
) -> dict[str, Path]:
    """`<folder>/<campaign_id>.csv` and `.parquet` (the same rows)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = export_frame(audience, products)
    paths = {
        "csv": folder / f"{audience.campaign.campaign_id}.csv",
        "parquet": folder / f"{audience.campaign.campaign_id}.parquet",
    }
    # Config checks the id's characters; this holds whatever built the campaign.
    for path in paths.values():
        if not path.resolve().is_relative_to(folder.resolve()):
            raise ValueError(f"export path {path} leaves the exports folder {folder}")
    frame.write_csv(paths["csv"])
    frame.write_parquet(paths["parquet"])
    return paths
