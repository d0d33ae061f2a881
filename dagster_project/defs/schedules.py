"""The daily refresh: every asset, landing to features, once a day after the night's exports (the
daily dbt models for the day that ended, incrementally);
after every successful run, the warehouse's read copy for people and tools reading it; after
every failed run, an alert (a log line and the team's alert command)."""

import os
from pathlib import Path

import dagster as dg

from dagster_project.defs.resources import warehouse_from_env
from dagster_project.lib.alerts import deliver, failure_alert
from dagster_project.lib.settings import Settings
from dagster_project.lib.warehouse import publish_read_copy

# Model training runs weekly (defs/models/schedules.py); the daily run rescores with the champion.
refresh_all_job = dg.define_asset_job(
    "refresh_all_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("models"),
    description="Every asset but the models group: land the night's export, rebuild bronze, "
    "silver and gold, refresh the feature store, rescore with the champion models, rebuild "
    "segments, attribution, uplift and the campaign audiences.",
)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="publish_read_copy_sensor",
    description="After each successful run, copy the warehouse to warehouse.read.duckdb, the "
    "file readers open (DuckDB lets no one read the live file while a run writes it).",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def publish_read_copy_sensor(context: dg.RunStatusSensorContext) -> None:
    target = publish_read_copy(warehouse_from_env().duckdb_path)
    context.log.info(f"run {context.dagster_run.run_id}: published {target}")


def alert_log_path() -> Path:
    default = Settings.from_env().data_dir / "alerts" / "run_failures.jsonl"
    return Path(os.environ.get("MOPT_ALERT_LOG", default))


def _error_text(error) -> str:
    """Dagster's wrapper message and, below it, the error the step raised (its causes)."""
    lines = []
    while error is not None:
        lines.append(error.message.strip())
        error = error.cause
    return "\n".join(lines)


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    description="After each failed run: one JSON line (run, job, failed steps, error) in "
    "$MOPT_ALERT_LOG (default <data dir>/alerts/run_failures.jsonl), and the same JSON on the "
    "stdin of $MOPT_ALERT_COMMAND when it is set (e.g. a script that posts to the team's chat).",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    errors = {
        event.step_key: _error_text(event.step_failure_data.error)
        for event in context.get_step_failure_events()
        if event.step_key and event.step_failure_data.error
    }
    alert = failure_alert(run.run_id, run.job_name, context.failure_event.message or "", errors)
    deliver(alert, alert_log_path(), os.environ.get("MOPT_ALERT_COMMAND"))
    context.log.info(f"run {run.run_id} failed: alert written to {alert_log_path()}")


@dg.definitions
def schedules() -> dg.Definitions:
    return dg.Definitions(
        jobs=[refresh_all_job],
        sensors=[publish_read_copy_sensor, run_failure_alert_sensor],
        schedules=[
            # The job is partitioned by day (its daily dbt models): each tick runs the day that
            # just ended in Seoul, so the daily models rebuild that day and the look-back only.
            dg.build_schedule_from_partitioned_job(
                refresh_all_job,
                name="daily_refresh_schedule",
                hour_of_day=6,
                minute_of_hour=0,
                description="Every day at 06:00 Seoul time, after the night's exports: "
                "refresh_all_job for the day that just ended (the daily dbt models rebuild that "
                "day and the look-back before it; the daily layers are due fresh by 09:00).",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
    )
