"""The benchmarks' shared pieces and the demo suite's setup, without running a benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dagster_project.lib.bench.common import publish
from dagster_project.lib.bench.demo import demo_env
from dagster_project.lib.bench.foundation import StageResult, _combine
from dagster_project.lib.settings import REPO_ROOT


def test_demo_env_is_a_fresh_scratch_state(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", "/elsewhere")
    monkeypatch.setenv("MOPT_PROFILE", "production")
    workdir = tmp_path / "run0"
    (workdir / "raw").mkdir(parents=True)
    (workdir / "raw" / "orders.parquet").write_text("a previous run's world")

    env = demo_env(workdir)

    assert not (workdir / "raw").exists()  # `mopt demo` simulates the world afresh
    assert env["MOPT_DATA_DIR"] == str(workdir)
    assert env["MOPT_RAW_DIR"] == str(workdir / "raw")
    assert env["MOPT_DUCKDB_PATH"] == str(workdir / "warehouse.duckdb")
    assert env["MOPT_FEATURES_DIR"] == str(workdir / "features")
    assert env["MOPT_PROFILE"] == "embedded"
    home = Path(env["DAGSTER_HOME"])
    assert home.parent == workdir
    assert (home / "dagster.yaml").read_text() == (
        REPO_ROOT / "deploy" / "dagster.local.yaml"
    ).read_text()
    assert env["PATH"]  # the rest of the environment is passed on


def test_publish_writes_the_json_and_replaces_only_its_block(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text(
        "# B\n<!-- bench:demo:begin -->\nold\n<!-- bench:demo:end -->\n"
        "<!-- bench:models:begin -->\nkept\n<!-- bench:models:end -->\n"
    )
    publish("demo", {"median_seconds": 1.5}, "| new |", out_dir=tmp_path / "out", docs_path=docs)

    payload = json.loads((tmp_path / "out" / "demo.json").read_text())
    assert payload["median_seconds"] == 1.5 and payload["machine"]["cpus"]
    assert docs.read_text() == (
        "# B\n<!-- bench:demo:begin -->\n| new |\n<!-- bench:demo:end -->\n"
        "<!-- bench:models:begin -->\nkept\n<!-- bench:models:end -->\n"
    )


def test_foundation_repeats_report_the_median_and_refuse_differing_rows():
    runs = [StageResult(10, 5, "ingest", s, rss, 100, [s]) for s, rss in [(3, 7), (1, 9), (2, 8)]]
    combined = _combine(runs)
    assert (combined.seconds, combined.peak_rss_mb, combined.run_seconds) == (2, 9, [3, 1, 2])
    runs[1].rows = 99
    with pytest.raises(RuntimeError, match="row counts differ"):
        _combine(runs)


def test_scale_stages_cover_every_asset_once_in_dependency_order():
    from dagster_project.definitions import defs
    from dagster_project.lib.bench.scale import stage_plan

    graph = defs().resolve_asset_graph()
    plan = stage_plan(graph)
    stage_index = {key: i for i, (_, keys) in enumerate(plan) for key in keys}
    every = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert sum(len(keys) for _, keys in plan) == len(every) == len(stage_index)
    late = [
        (key.to_user_string(), parent.to_user_string())
        for key in graph.get_all_asset_keys()
        for parent in graph.get(key).parent_keys
        if stage_index[parent.to_user_string()] > stage_index[key.to_user_string()]
    ]
    assert late == []  # no asset runs before one of its parents
    assert [name for name, _ in plan][:2] == ["ingest", "dbt build"]


def test_scale_totals_sum_the_stages_and_check_the_memory_bar():
    from dagster_project.lib.bench.scale import PEAK_BAR_MB, StageResult, totals

    results = [
        StageResult(1000, 30, "simulate", 2.0, 500, 0),
        StageResult(1000, 30, "ingest", 3.0, 900, 13),
        StageResult(2000, 30, "simulate", 3.0, 800, 0),
        StageResult(2000, 30, "ingest", 5.0, PEAK_BAR_MB + 1, 13),
    ]
    small, big = totals(results)
    assert (small["seconds"], small["peak_rss_mb"], small["ms_per_customer"]) == (5.0, 900, 5.0)
    assert small["peak_under_bar"] and not big["peak_under_bar"]
    assert big["ms_per_customer"] == 4.0


def test_scale_report_keeps_the_sizes_a_run_did_not_measure(tmp_path: Path):
    from dagster_project.lib.bench.scale import StageResult, kept_sizes

    old = [StageResult(10, 5, "simulate", 1.0, 100, 0), StageResult(20, 5, "simulate", 2.0, 200, 0)]
    (tmp_path / "scale.json").write_text(json.dumps({"results": [vars(r) for r in old]}))
    new = [StageResult(20, 5, "simulate", 3.0, 300, 0)]
    assert kept_sizes(new, tmp_path) == old[:1]  # the 20-customer world was measured again
    assert kept_sizes(new, tmp_path / "none") == []
