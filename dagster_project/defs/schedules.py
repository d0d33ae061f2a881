"""The daily refresh: every asset, landing to features, once a day after the night's exports."""

import dagster as dg

# Model training runs weekly (defs/models/schedules.py); the daily run rescores with the champion.
refresh_all_job = dg.define_asset_job(
    "refresh_all_job", selection=dg.AssetSelection.all() - dg.AssetSelection.groups("models")
)


@dg.definitions
def schedules() -> dg.Definitions:
    return dg.Definitions(
        jobs=[refresh_all_job],
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
