"""dbt models as assets (bronze, silver, gold), dbt tests as asset checks, and the contract
report built from them in Python. dbt writes the gold feature snapshots (`feat_*`) straight to the
Parquet files Feast reads (dbt/macros/materializations/feature_file.sql).

The event-level silver models and the feature snapshots are partitioned by business date and
built incrementally (docs/scale-out.md#daily-partitions-and-incremental-models)."""

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
    get_asset_key_for_model,
)

from dagster_project.defs import metadata as md
from dagster_project.defs.resources import Warehouse, dbt_project
from dagster_project.lib.contract import tables
from dagster_project.lib.date_window import DateWindow, date_window, dbt_window_env
from dagster_project.lib.settings import Settings
from dagster_project.lib.warehouse import preview_markdown, row_count

LAYERS = ("reference", "bronze", "silver", "gold")


class LayeredTranslator(DagsterDbtTranslator):
    """Asset keys ``[schema, model]`` and groups named after the medallion layer."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        # dagster-dbt asks again for every dependency (~1,000 calls for 61 models): answer once.
        memo = self.__dict__.setdefault("_layered_specs", {})
        memo_id = (id(manifest), unique_id)
        if memo_id not in memo:
            memo[memo_id] = self._layered_spec(manifest, unique_id, project)
        return memo[memo_id]

    def _layered_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id)
        if node is None or node["schema"] not in LAYERS:
            return spec
        return spec.replace_attributes(
            key=dg.AssetKey([node["schema"], node["name"]]), group_name=node["schema"]
        )


# The event-level silver models and the daily feature snapshots (dbt tag `daily`): incremental by
# business date, so their assets are partitioned by day; every other model is rebuilt in full.
DAILY_MODELS = "tag:daily"


@cache
def daily_partitions() -> dg.DailyPartitionsDefinition:
    """One partition per business date (the dbt var business_timezone's, Asia/Seoul by default)."""
    settings = Settings.from_env()
    return dg.DailyPartitionsDefinition(
        start_date=settings.partitions_start_date, timezone=settings.business_timezone
    )


def dbt_build_args(window: DateWindow | None = None) -> list[str]:
    # Cautious: a subset (e.g. bronze only) runs the tests whose every parent is selected, not
    # the reconciliation tests that also read silver tables the subset does not build.
    # The window goes through the environment (dbt_window_env), not --vars: a changed --vars
    # makes dbt re-parse the whole project on every run. A day's run leaves out dbt's unit
    # tests (fixed inputs, not the day's data: a full build and CI run them).
    args = ["build", "--indirect-selection", "cautious"]
    return [*args, "--exclude-resource-type", "unit_test"] if window else args


def _dbt_step(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    window: DateWindow | None = None,
) -> Iterator:
    # One dbt at a time on the warehouse file, whichever run (two runs for different days
    # launched at once from two processes): the second waits for the first to finish.
    with warehouse.write_lock():
        # dbt opens the file once and does not retry: wait here for any process holding it.
        with warehouse.connect():
            pass
        with warehouse.dbt_environment(dbt_window_env(window)):
            invocation = dbt.cli(dbt_build_args(window), context=context, raise_on_error=False)
            # DuckDB has one writer: collect dbt's events, then read counts once dbt has let go.
            events = list(invocation.stream())
        with warehouse.connect(read_only=True) as con:
            for event in events:
                if isinstance(event, dg.Output):
                    relation = ".".join(context.asset_key_for_output(event.output_name).path)
                    event = event.with_metadata(
                        {
                            **event.metadata,
                            "dagster/row_count": row_count(con, relation),
                            "preview": dg.MetadataValue.md(preview_markdown(con, relation)),
                            **({"date_window": window.describe()} if window else {}),
                        }
                    )
                yield event
    if not invocation.is_successful():
        failed = failed_nodes(invocation.get_artifact("run_results.json"))
        raise dg.Failure(f"dbt build failed: {failed}\n{invocation.get_error()}")


@cache
def dbt_assets_def() -> dg.AssetsDefinition:
    """Every model but the daily ones, rebuilt in full on each run."""
    project = dbt_project()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=LayeredTranslator(),
        exclude=DAILY_MODELS,
        pool="duckdb",
    )
    def dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
    ) -> Iterator:
        yield from _dbt_step(context, dbt, warehouse)

    return dbt_models


# A run tagged so builds every date of the daily models whatever its partition: `mopt materialize`
# and `mopt demo` without --partition record it on the latest day. (A run over every partition
# does the same work, but Dagster records one materialization per partition and asset: 8 assets
# x ~1,000 days took 175 s of event writes on SQLite, more than the demo's whole build.)
FULL_BUILD_TAG = "mopt/full_build"


def full_build_tags() -> dict[str, str]:
    """Run tags for a build of every date (first build, demo), recorded on the latest day."""
    from dagster._core.storage.tags import PARTITION_NAME_TAG

    return {PARTITION_NAME_TAG: daily_partitions().get_last_partition_key(), FULL_BUILD_TAG: "true"}


# One definition per layer, because the daily models are not contiguous in the graph: bronze's
# event tables read the unpartitioned customers; silver's sessions read the unpartitioned
# campaigns; the facts and snapshots read the unpartitioned dim_dates and customers.
DAILY_PARTS = {
    "dbt_daily_bronze": "tag:daily,path:models/bronze",
    "dbt_daily_silver": "tag:daily,path:models/silver",
    "dbt_daily_gold": "tag:daily,path:models/gold",
}


@cache
def dbt_daily_assets_def(name: str) -> dg.AssetsDefinition:
    """Daily models, one partition per business date. A run over one day or a range of days
    (a backfill launches one run per range) rebuilds those dates and the look-back before them;
    a run over every partition, or the first run (no table yet), builds every date."""
    project = dbt_project()

    @dbt_assets(
        name=name,
        manifest=project.manifest_path,
        project=project,
        # Their dbt tests are not asset checks: dagster-dbt would select a test with its model,
        # and a relationships test to an unpartitioned model (int_customers__conformed, built
        # after the daily silver step) then fails a first build. `dbt build` still runs them.
        dagster_dbt_translator=LayeredTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=False)
        ),
        select=DAILY_PARTS[name],
        partitions_def=daily_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool="duckdb",
    )
    def _daily_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
    ) -> Iterator:
        window = (
            None
            if context.run.tags.get(FULL_BUILD_TAG) == "true"
            else date_window(context.partition_keys, daily_partitions().get_partition_keys())
        )
        yield from _dbt_step(context, dbt, warehouse, window)

    return _daily_models


def dbt_daily_assets_defs() -> list[dg.AssetsDefinition]:
    return [dbt_daily_assets_def(name) for name in DAILY_PARTS]


def failed_nodes(run_results: Mapping[str, Any], shown: int = 3) -> str:
    """The nodes that errored or failed, first ones named (for the run's one-line cause)."""
    failed = [
        f"{r['unique_id'].split('.')[-1]} ({r['status']})"
        for r in run_results.get("results", [])
        if r["status"] in ("error", "fail", "runtime error")
    ]
    more = f" and {len(failed) - shown} more" if len(failed) > shown else ""
    return (", ".join(failed[:shown]) + more) if failed else "see the dbt log"


def model_key(model_name: str) -> dg.AssetKey:
    # Either dbt asset definition answers for every model (same manifest, same translator).
    return get_asset_key_for_model([dbt_assets_def()], model_name)


def contract_report() -> dg.AssetsDefinition:
    @dg.asset(
        key=["bronze", "contract_report"],
        group_name="bronze",
        kinds={"duckdb"},
        pool="duckdb",
        deps=[model_key("quarantine"), *(model_key(f"stg_raw__{t}") for t in tables())],
    )
    def _contract_report(warehouse: Warehouse) -> dg.MaterializeResult:
        """Per raw table: rows landed, typed into bronze and quarantined, and the rules broken."""
        with warehouse.connect(read_only=True) as con:
            counts = con.sql(
                " union all ".join(
                    f"select '{t}' as table_name,"
                    f" (select count(*) from landing.{t}) as landed,"
                    f" (select count(*) from bronze.stg_raw__{t}) as bronze,"
                    f" (select count(*) from bronze.quarantine where table_name = '{t}')"
                    " as quarantined"
                    for t in tables()
                )
            ).pl()
            rules = con.sql(
                "select table_name, rule, count(*) as rows from bronze.quarantine"
                " group by all order by rows desc, table_name, rule"
            ).pl()
        metadata: dict[str, Any] = {
            "rows_landed": int(counts["landed"].sum()),
            "rows_quarantined": int(counts["quarantined"].sum()),
            "tables": md.table(counts),
            "rules_broken": md.table(rules) if rules.height else "none",
        }
        metadata |= {
            f"quarantined/{r['table_name']}": r["quarantined"] for r in counts.iter_rows(named=True)
        }
        return dg.MaterializeResult(metadata=metadata)

    return _contract_report


@dg.definitions
def transform() -> dg.Definitions:
    return dg.Definitions(
        assets=[
            dbt_assets_def(),
            *dbt_daily_assets_defs(),
            contract_report(),
        ],
    )
