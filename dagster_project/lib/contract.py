"""The raw data contract, read from the dbt sources file so that ingestion, the bronze layer and
the simulator share one definition (``dbt/models/bronze/raw/__sources.yml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt"
SOURCES_YML = DBT_DIR / "models/bronze/raw/__sources.yml"


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    rules: dict = field(default_factory=dict)

    @property
    def required(self) -> bool:
        return bool(self.rules.get("required"))


@dataclass(frozen=True)
class Table:
    name: str
    grain: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    required_table: bool
    # Rows are versions of an entity (customers): a file's rows stay history when it is gone.
    versioned: bool = False

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """Columns an export must carry (the rest may be absent and are then null)."""
        return [c.name for c in self.columns if c.required]


@cache
def tables() -> dict[str, Table]:
    """Contract tables by name, in the order of the sources file."""
    # libyaml's loader: the pure-Python one took ~40 ms of every definitions load on this file.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    source = yaml.load(SOURCES_YML.read_text(), Loader=loader)["sources"][0]
    out = {}
    for t in source["tables"]:
        meta = t["config"]["meta"]
        cols = tuple(
            Column(c["name"], c["data_type"], (c.get("config") or {}).get("meta") or {})
            for c in t["columns"]
        )
        out[t["name"]] = Table(
            t["name"],
            meta["grain"],
            tuple(meta["key"]),
            cols,
            bool(meta["required_table"]),
            versioned="versioned_by" in meta,
        )
    return out


@cache
def money_max() -> float:
    """The largest money amount that is data, not a broken value: the dbt var
    `contract_money_max`, so the warehouse's contract and the orders-only path agree."""
    project = yaml.safe_load((DBT_DIR / "dbt_project.yml").read_text())
    return float(project["vars"]["contract_money_max"])
