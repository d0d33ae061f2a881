"""Weekly retraining: a fresh training set, both models (each promoted only if not worse than the
champion on the same test window) and rescoring. The daily refresh (defs/schedules.py) runs every
asset but the `models` group, so scores follow each day's features with the current champion."""

import dagster as dg

from dagster_project.defs.models.assets import (
    LTV_KEY,
    PURCHASE_KEY,
    SCORES_KEY,
    TRAINING_SET_KEY,
)

model_retraining_job = dg.define_asset_job(
    "model_retraining_job",
    selection=dg.AssetSelection.assets(TRAINING_SET_KEY, PURCHASE_KEY, LTV_KEY, SCORES_KEY),
    description="A fresh training set from Feast, both models (each promoted only if it beats "
    "its baselines and is not worse than the champion on the same test window), and rescoring.",
)


@dg.definitions
def schedules() -> dg.Definitions:
    return dg.Definitions(
        jobs=[model_retraining_job],
        schedules=[
            dg.ScheduleDefinition(
                name="model_retraining_schedule",
                job=model_retraining_job,
                # Mondays after the daily refresh (06:00) has built Sunday's snapshots.
                cron_schedule="0 8 * * 1",
                description="Mondays at 08:00 Seoul time, after the daily refresh has built "
                "Sunday's snapshots: model_retraining_job.",
                execution_timezone="Asia/Seoul",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
    )
