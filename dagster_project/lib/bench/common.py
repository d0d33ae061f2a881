"""What every benchmark suite shares: machine facts, timing a subprocess (wall time and peak RSS)
or an in-process step (median over repeats), the scratch environment of a world, and publishing
the results (bench/out/<suite>.json and the suite's block in docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sysconfig
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from dagster_project.lib.settings import REPO_ROOT

# The scripts (mopt, dbt) of this environment, as dagster_project.defs.resources finds dbt.
BIN = Path(sysconfig.get_path("scripts"))
OUT_DIR = REPO_ROOT / "bench" / "out"
DOCS_PATH = REPO_ROOT / "docs" / "benchmarks.md"

T = TypeVar("T")


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def parse_size(size: str) -> tuple[int, int]:
    """'20000x180' -> (customers, days)."""
    customers, days = (int(x) for x in size.lower().split("x"))
    return customers, days


def world_env(workdir: Path) -> dict[str, str]:
    """This process's environment with every data path of the platform under `workdir`, so a
    benchmarked command reads and writes only there."""
    return {
        **os.environ,
        "MOPT_DATA_DIR": str(workdir),
        "MOPT_RAW_DIR": str(workdir / "raw"),
        "MOPT_DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
        "MOPT_FEATURES_DIR": str(workdir / "features"),
    }


def run_stage(
    args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command; its output goes to `log`. The kernel's
    rusage of the child covers its waited-for descendants too (dbt under Dagster), so the peak is
    that of the largest process in the tree."""
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{log.read_text()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def median_seconds(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Median wall seconds of `repeats` calls of `fn`, and the last call's result."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def replace_marked_block(docs_path: Path, name: str, table: str) -> None:
    """Put `table` between the `<!-- bench:NAME:begin/end -->` markers of a Markdown file."""
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    block = f"{begin}\n{table}\n{end}"
    text = docs_path.read_text() if docs_path.exists() else ""
    if begin in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text += f"\n{block}\n"
    docs_path.write_text(text)


def publish(
    suite: str,
    payload: dict[str, Any],
    table: str,
    out_dir: Path = OUT_DIR,
    docs_path: Path = DOCS_PATH,
) -> None:
    """Write `out_dir/<suite>.json` (the machine's facts and `payload`) and put `table` in the
    `bench:<suite>` block of `docs_path`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"machine": machine(), **payload}, indent=2, default=str)
    (out_dir / f"{suite}.json").write_text(text + "\n")
    replace_marked_block(docs_path, suite, table)
    print(f"wrote {out_dir / suite}.json and the bench:{suite} block of {docs_path}", flush=True)


def run_sections(
    suite: str,
    sections: list[str],
    repeats: int,
    functions: Mapping[str, Callable[..., dict]],
    table: Callable[[str, dict, int], str],
    docs_path: Callable[[str], Path] = lambda name: DOCS_PATH,
) -> list[dict]:
    """Run a suite's named sections (`functions[name](repeats=...)`), each published as
    bench/out/<suite>_<name>.json with `table(name, result, repeats)` in its docs page; an
    unknown name fails before anything runs."""
    unknown = [s for s in sections if s not in functions]
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}: choose from {sorted(functions)}")
    results = []
    for name in sections:
        result = functions[name](repeats=repeats)
        payload = {"repeats": repeats, "result": result}
        publish(f"{suite}_{name}", payload, table(name, result, repeats), docs_path=docs_path(name))
        results.append(result)
    return results
