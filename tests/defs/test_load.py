"""What loading the definitions costs: no model library at load time, and no `dbt parse` when the
manifest is current (the UI's code server and every run launched from the UI load them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster_project.lib.dbt_manifest import manifest_is_current, record_parse

HEAVY = ("lightgbm", "scipy", "sklearn", "feast")
PROBE = (
    "import json, sys\n"
    "from dagster_project.definitions import defs\n"
    "defs().resolve_all_asset_specs()\n"
    f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
)


def test_loading_the_definitions_imports_no_model_library() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_IS_DEV_CLI"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_manifest_is_current_until_a_model_or_the_profile_changes(tmp_path, monkeypatch) -> None:
    project = tmp_path / "dbt"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: p\n")
    (project / "models" / "a.sql").write_text("select 1")
    manifest = project / "target" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text("{}")
    monkeypatch.setenv("MOPT_DUCKDB_PATH", "/a.duckdb")
    assert not manifest_is_current(manifest, project)  # never recorded
    record_parse(manifest, project)
    assert manifest_is_current(manifest, project)
    (project / "models" / "a.sql").write_text("select 2")
    assert not manifest_is_current(manifest, project)
    record_parse(manifest, project)
    monkeypatch.setenv("MOPT_DUCKDB_PATH", "/b.duckdb")
    assert not manifest_is_current(manifest, project)
    monkeypatch.setenv("MOPT_DUCKDB_PATH", "/a.duckdb")
    shutil.rmtree(project / "target")
    assert not manifest_is_current(manifest, project)


def test_a_load_under_dagster_dev_does_not_parse_a_current_project() -> None:
    """dagster-dbt parses on every load under `dagster dev`; with a current manifest it must not
    (the manifest file is left untouched)."""
    from dagster_project.lib.settings import DBT_MANIFEST_PATH

    env = {**os.environ, "DAGSTER_IS_DEV_CLI": "1"}
    load = [sys.executable, "-c", PROBE]
    subprocess.run(load, env=env, capture_output=True, check=True)  # parses if out of date
    before = DBT_MANIFEST_PATH.stat().st_mtime_ns
    subprocess.run(load, env=env, capture_output=True, check=True)
    assert DBT_MANIFEST_PATH.stat().st_mtime_ns == before


def test_the_workspace_loads_as_mopt_without_warnings() -> None:
    """`make ui`'s workspace: the location is `mopt` and loading it logs no warning (it used to
    log a location-name mismatch once per definitions module)."""
    from dagster_project.lib.settings import REPO_ROOT

    dagster = str(Path(sys.executable).with_name("dagster"))
    workspace = REPO_ROOT / "deploy" / "workspace.local.yaml"
    out = subprocess.run(
        [dagster, "definitions", "validate", "-w", str(workspace)],
        capture_output=True,
        text=True,
        check=True,
    )
    log = out.stdout + out.stderr
    assert "Validation successful for code location mopt" in log
    assert "WARNING" not in log, log[-3000:]
