"""The Definitions load, and their asset keys, jobs and schedules match the committed snapshot
(regenerate with UPDATE_SNAPSHOT=1 when a change is intended)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

from dagster_project.definitions import defs

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


def describe(definitions: dg.Definitions) -> dict:
    graph = definitions.resolve_asset_graph()
    return {
        "assets": sorted(k.to_user_string() for k in definitions.resolve_all_asset_keys()),
        "groups": sorted({graph.get(k).group_name for k in graph.get_all_asset_keys()}),
        "jobs": sorted(j.name for j in definitions.resolve_all_job_defs()),
        "schedules": sorted(s.name for s in definitions.schedules or []),
    }


def test_definitions_match_snapshot() -> None:
    current = describe(defs())
    if os.environ.get("UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_every_warehouse_writer_shares_the_duckdb_pool() -> None:
    """DuckDB has one writer: every asset touching the warehouse runs in the `duckdb` pool."""
    definitions = defs()
    for assets_def in definitions.resolve_asset_graph().assets_defs:
        if assets_def.is_executable:
            assert assets_def.op.pool == "duckdb", assets_def.keys


def test_dbt_models_are_keyed_by_layer() -> None:
    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        layer = key.path[0]
        assert layer in {
            "landing",
            "reference",
            "bronze",
            "silver",
            "gold",
            "features",
            "campaigns",
            "models",
        }, key
        assert graph.get(key).group_name == layer
