"""dbt docs: every column of every silver and gold table, as built, is declared in its model's
YAML with a data_type that is the built column's type and a description that says more than the
column's name (what it means, its unit: KRW, UTC timestamps, KST business dates)."""

from __future__ import annotations

import json
import re

from tests.conftest import DbtRun, query

LAYERS = ("silver", "gold")


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("_", " ")))


def undocumented(manifest: dict, built: dict[tuple[str, str], list[tuple[str, str]]]) -> list:
    """(model, column, what is wrong) for every built column of a silver/gold model that is not
    declared, has no or a wrong data_type, or whose description only repeats its name; and for
    every declared column the table does not have."""
    problems = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["schema"] not in LAYERS:
            continue
        declared = node["columns"]
        columns = built.get((node["schema"], node["name"]), [])
        assert columns, f"{node['schema']}.{node['name']} is not in the warehouse"
        for name, data_type in columns:
            doc = declared.get(name)
            if doc is None:
                problems.append((node["name"], name, "not in the model's YAML"))
                continue
            if (doc.get("data_type") or "").lower() != data_type:
                problems.append((node["name"], name, f"data_type {doc.get('data_type')!r}"))
            description = _words(doc.get("description") or "")
            if description in ("", _words(name)):
                problems.append((node["name"], name, "description repeats the name or is empty"))
        problems += [
            (node["name"], name, "declared, not in the table")
            for name in set(declared) - {c for c, _ in columns}
        ]
    return sorted(problems)


def _built(run: DbtRun) -> dict[tuple[str, str], list[tuple[str, str]]]:
    rows = query(
        run.duckdb_path,
        "select table_schema, table_name, column_name, lower(data_type)"
        " from information_schema.columns where table_schema in ('silver', 'gold')"
        " order by table_schema, table_name, ordinal_position",
    )
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in rows:
        out.setdefault((schema, table), []).append((column, data_type))
    return out


def _manifest(run: DbtRun) -> dict:
    target = run.duckdb_path.with_name(run.duckdb_path.stem + "_target")
    return json.loads((target / "manifest.json").read_text())


def test_every_silver_and_gold_column_has_a_description_and_its_type(world: DbtRun) -> None:
    world.assert_ok()
    assert undocumented(_manifest(world), _built(world)) == []


def test_an_undocumented_or_mistyped_column_is_named(world: DbtRun) -> None:
    manifest = _manifest(world)
    built = _built(world)
    node = next(n for n in manifest["nodes"].values() if n["name"] == "dim_sellers")
    node["columns"].pop("seller_name")
    node["columns"]["products"]["data_type"] = "varchar"
    node["columns"]["style"]["description"] = "Style."
    assert undocumented(manifest, built) == [
        ("dim_sellers", "products", "data_type 'varchar'"),
        ("dim_sellers", "seller_name", "not in the model's YAML"),
        ("dim_sellers", "style", "description repeats the name or is empty"),
    ]
