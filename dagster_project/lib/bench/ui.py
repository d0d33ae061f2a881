"""UI benchmark (`mopt bench ui`): what every definitions load costs (the UI's code server at
start and on reload, and each run launched from the UI, in its own process), as a fresh process
each time, median over repeats; and the `dbt parse` that every load under `dagster dev` used to
pay before the manifest was cached."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from dagster_project.lib.bench.common import BIN, publish, run_stage
from dagster_project.lib.settings import DBT_PROJECT_DIR, REPO_ROOT
from dagster_project.lib.warehouse import markdown_table

LOAD = "from dagster_project.definitions import defs; defs().resolve_all_asset_specs()"
# The floor under any definitions of ours: the two libraries every load imports.
FLOOR = "import dagster, dagster_dbt"
# Issue 17's figure for the same command before the lazy imports and the cached manifest.
BEFORE_S = 12.5


def _median_stage(args: list[str], env: dict[str, str], repeats: int, log: Path) -> float:
    return statistics.median(run_stage(args, env, log, cwd=REPO_ROOT)[0] for _ in range(repeats))


def run(repeats: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "stage.log"
        # Python caches bytecode (.pyc) on the first import. Where PYTHONDONTWRITEBYTECODE is
        # set (some sandboxes and CI images) and the install did not compile it, every load
        # compiles ~800 modules from source again (~1.8 s here): `make install` compiles at
        # install. The load stages run cached, after one warm-up load; one stage reads no cache
        # (an empty cache prefix, nothing written): what an uncompiled install pays.
        skip = {"DAGSTER_IS_DEV_CLI", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"}
        env = {k: v for k, v in os.environ.items() if k not in skip}
        dev = {**env, "DAGSTER_IS_DEV_CLI": "1"}
        uncached = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp)}
        load = [sys.executable, "-c", LOAD]
        run_stage(load, env, log, cwd=REPO_ROOT)
        # A copy of the target folder, so the parse is dbt's partial parse, as under dagster dev,
        # and leaves the project's manifest alone.
        target = Path(tmp) / "target"
        shutil.copytree(DBT_PROJECT_DIR / "target", target)
        parse = [str(BIN / "dbt"), "parse", "--quiet", "--profiles-dir", str(DBT_PROJECT_DIR)]
        parse += ["--project-dir", str(DBT_PROJECT_DIR), "--target-path", str(target)]
        results = [
            {"stage": "definitions load", "median_s": _median_stage(load, env, repeats, log)},
            {
                "stage": "definitions load under dagster dev (manifest current)",
                "median_s": _median_stage(load, dev, repeats, log),
            },
            {
                "stage": "definitions load, no bytecode cache (an uncompiled install)",
                "median_s": _median_stage(load, uncached, repeats, log),
            },
            {
                "stage": "floor: import dagster, dagster_dbt",
                "median_s": _median_stage([sys.executable, "-c", FLOOR], env, repeats, log),
            },
            {
                "stage": "floor, no bytecode cache",
                "median_s": _median_stage([sys.executable, "-c", FLOOR], uncached, repeats, log),
            },
            {
                "stage": "dbt parse (each load under dagster dev paid it before)",
                "median_s": _median_stage(parse, env, repeats, log),
            },
        ]
    for r in results:
        print(f"{r['stage']}: {r['median_s']:.2f} s", flush=True)
    write_report(results, repeats)
    return results


def write_report(results: list[dict], repeats: int) -> None:
    import polars as pl

    table = pl.DataFrame(results).select(
        "stage", pl.col("median_s").round(2).alias(f"median s ({repeats} runs)")
    )
    payload = {"repeats": repeats, "before_s": BEFORE_S, "results": results}
    publish("ui", payload, markdown_table(table))
