"""The daily refresh: every asset, landing to features, once a day after the night's exports;
and after every successful run, the warehouse's read copy for people and tools reading it."""

import dagster as dg

from dagster_project.defs.resources import warehouse_from_env
from dagster_project.lib.warehouse import publish_read_copy

# Model training runs weekly (defs/models/schedules.py); the daily run rescores with the champion.
refresh_all_job = dg.define_asset_job(
    "refresh_all_job", selection=dg.AssetSelection.all() - dg.AssetSelection.groups("models")
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


@dg.definitions
def schedules() -> dg.Definitions:
    return dg.Definitions(
        jobs=[refresh_all_job],
        sensors=[publish_read_copy_sensor],
        schedules=[
            dg.ScheduleDefinition(
                name="daily_refresh_schedule",
                job=refresh_all_job,
                cron_schedule="0 6 * * *",
                execution_timezone="Asia/Seoul",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
    )
