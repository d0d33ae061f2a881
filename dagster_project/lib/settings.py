"""Where things live, from environment variables (see .env.example), with local defaults."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
FEATURE_REPO_DIR = REPO_ROOT / "feature_repo"
# Written by `dbt parse` (make install) and by every dbt run.
DBT_MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"


def feature_models(manifest_path: Path = DBT_MANIFEST_PATH) -> list[str]:
    """Gold ``feat_`` models, from the dbt manifest: dbt writes each as the Parquet file Feast
    reads, ``<features dir>/<name without feat_>.parquet``."""
    manifest = json.loads(Path(manifest_path).read_text())
    return sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["name"].startswith("feat_")
    )


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    raw_dir: Path
    duckdb_path: Path
    features_dir: Path
    business_timezone: str
    # The first business date of the daily partitions (defs/transform): data before it is built
    # by full builds only. ISO date.
    partitions_start_date: str = "2024-01-01"

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(os.environ.get("MOPT_DATA_DIR", REPO_ROOT / "data")).resolve()
        return cls(
            data_dir=data_dir,
            raw_dir=Path(os.environ.get("MOPT_RAW_DIR", data_dir / "raw")).resolve(),
            duckdb_path=Path(
                os.environ.get("MOPT_DUCKDB_PATH", data_dir / "warehouse.duckdb")
            ).resolve(),
            features_dir=Path(os.environ.get("MOPT_FEATURES_DIR", data_dir / "features")).resolve(),
            business_timezone=os.environ.get("MOPT_BUSINESS_TIMEZONE", "Asia/Seoul"),
            partitions_start_date=os.environ.get("MOPT_PARTITIONS_START_DATE", "2024-01-01"),
        )
