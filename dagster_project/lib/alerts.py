"""Run-failure alerts: one JSON line per failed run in a log file, and optionally the same JSON on
the standard input of a command the team configures (a script that posts to Slack, pages, ...)."""

from __future__ import annotations

import json
import shlex
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def failure_alert(
    run_id: str, job_name: str, message: str, step_errors: dict[str, str]
) -> dict[str, Any]:
    """The alert of one failed run: which job, which steps, and each step's error."""
    return {
        "alerted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": run_id,
        "job_name": job_name,
        "message": message,
        "failed_steps": sorted(step_errors),
        "step_errors": step_errors,
    }


def deliver(alert: dict[str, Any], log_path: Path, command: str | None = None) -> None:
    """Append the alert to `log_path`; then, if a command is configured, run it with the alert on
    stdin. A failing command raises with its output (the sensor's tick shows it)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        log.write(json.dumps(alert) + "\n")
    if command:
        done = subprocess.run(
            shlex.split(command), input=json.dumps(alert), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"alert command {command!r} exited {done.returncode}: {done.stderr[-2000:]}"
            )
