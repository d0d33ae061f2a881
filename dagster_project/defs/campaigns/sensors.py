"""Triggered campaigns run on new events: when the events model (silver.int_events__cleaned) has
a new materialization, a run of triggered_sends_job ticks every triggered campaign. In the
embedded profile the simulator's events land through the daily refresh; in production the
daemon evaluates the sensor every 15 minutes and the run queue (dagster.yaml) starts the run
when the DuckDB pool is free (docs/crm.md, Triggered campaigns)."""

import dagster as dg

from dagster_project.defs.campaigns.assets import TRIGGERED_KEY
from dagster_project.defs.transform.assets import model_key

triggered_sends_job = dg.define_asset_job(
    "triggered_sends_job",
    selection=dg.AssetSelection.assets(TRIGGERED_KEY),
    description="One tick of every triggered campaign over the events seen so far.",
)


def triggered_sends_sensor() -> dg.SensorDefinition:
    """Built on load: the events model's key comes from the dbt manifest."""

    @dg.asset_sensor(
        asset_key=model_key("int_events__cleaned"),
        job=triggered_sends_job,
        name="triggered_sends_sensor",
        minimum_interval_seconds=900,
        description="On each new materialization of silver.int_events__cleaned (new events), "
        "one tick of the triggered campaigns (triggered_sends_job); one run per materialization.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
        yield dg.RunRequest(run_key=str(asset_event.storage_id))

    return _sensor


@dg.definitions
def sensors() -> dg.Definitions:
    return dg.Definitions(jobs=[triggered_sends_job], sensors=[triggered_sends_sensor()])
