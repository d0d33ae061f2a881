"""`mopt`: the things people run by hand. Everything else runs as Dagster assets."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Annotated

import typer

from dagster_project.lib.settings import Settings

# Typer's rich traceback renderer loops forever on a cycle of chained exceptions (Dagster's
# step errors make such cycles): failures are reported by `main` instead.
app = typer.Typer(
    help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
)


def main() -> None:
    """The `mopt` entry point: any failure ends the process with exit code 1 and its cause on
    one line (MOPT_TRACEBACK=1 prints the full traceback first)."""
    _stop_with_parent()
    try:
        app()
    except Exception as err:
        if os.environ.get("MOPT_TRACEBACK"):
            traceback.print_exc()
        typer.echo(f"error: {_one_line(type(err).__name__, str(err))}", err=True)
        raise SystemExit(1) from None


def _stop_with_parent() -> None:
    """A parent killed with SIGKILL (`kill -9` of `uv run`) cannot pass the signal on, and the
    run would go on alone: Linux sends us SIGHUP when the parent dies, and SIGHUP stops the run
    as Ctrl-C does (Dagster marks it failed)."""
    signal.signal(signal.SIGHUP, _interrupt_until_stopped)
    if sys.platform == "linux":
        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGHUP)
        if os.getppid() != parent:  # the parent died before the request took effect
            raise SystemExit(1)


def _interrupt_until_stopped(*_) -> None:
    """Interrupt now, and again every few seconds until the process ends: Dagster raises the
    interrupt inside the running step, where a C extension may swallow it (DuckDB's lazy import
    of pandas does, and the step then succeeds)."""
    if not any(t.name == _REPEATER for t in threading.enumerate()):
        threading.Thread(target=_repeat_interrupt, name=_REPEATER, daemon=True).start()
    signal.raise_signal(signal.SIGINT)


def _repeat_interrupt() -> None:
    while True:
        time.sleep(INTERRUPT_REPEAT_S)
        os.kill(os.getpid(), signal.SIGINT)


_REPEATER = "mopt-interrupt-repeater"
INTERRUPT_REPEAT_S = 5.0  # longer than a step takes to stop when interrupted once
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _one_line(kind: str | None, message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    return f"{kind}: {first}" if kind else first


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder for the raw files and truth/.")],
    customers: Annotated[int, typer.Option(help="Customers in the world.")] = 20_000,
    days: Annotated[int, typer.Option(help="Days simulated.")] = 180,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 42,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    block_days: Annotated[
        int,
        typer.Option(
            help="Days the day loop runs before its rows are written (memory, not output: the "
            "files are the same for any value)."
        ),
    ] = 30,
    price_drops: Annotated[
        float,
        typer.Option(
            help="Share of products marked down once in the window (the optional "
            "product_prices table, for the price_drop trigger); 0: none.",
            min=0.0,
            max=1.0,
        ),
    ] = 0.0,
) -> None:
    """Simulate a marketplace world in the raw data contract, with its ground truth, streamed
    to disk: sessions, events, orders, order_items and marketing_touches as one file per
    business date (<table>/part-YYYYMMDD.parquet), the other tables as one file each."""
    from dagster_project.lib.simulate.cli import simulate_command

    simulate_command(
        customers=customers,
        days=days,
        seed=seed,
        out=out,
        fmt=fmt,
        block_days=block_days,
        price_drop_share=price_drops,
    )


@app.command()
def materialize(
    select: Annotated[
        str, typer.Option(help="Dagster asset selection, e.g. 'group:bronze' or '*'.")
    ] = "*",
    partition: Annotated[
        str | None,
        typer.Option(
            help="Business date(s) for the daily assets: 2025-06-01, or a range "
            "2025-06-01...2025-06-07 (incremental: those days and the look-back). "
            "Default: every partition, a full build."
        ),
    ] = None,
) -> None:
    """Materialize assets through the same Definitions the Dagster UI loads."""
    _materialize(select, partition)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="Customers in the sample world.")] = 20_000,
    days: Annotated[int, typer.Option(help="Days in the sample world.")] = 180,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """Simulate the sample world (unless present), materialize every asset, say where it is."""
    settings = Settings.from_env()
    from dagster_project.lib.ingest import find_files

    if not find_files(settings.raw_dir, "orders"):
        simulate(out=settings.raw_dir, customers=customers, days=days, seed=seed)
    _materialize("*")
    _print_summary(settings)


def _materialize(select: str, partition: str | None = None) -> None:
    import dagster as dg

    from dagster_project.definitions import defs
    from dagster_project.defs.transform.assets import daily_partitions

    definitions = defs()
    selection = dg.AssetSelection.from_string(select) if select != "*" else None
    job = definitions.resolve_implicit_global_asset_job_def()
    home = os.environ.get("DAGSTER_HOME")
    with dg.DagsterInstance.get() if home else dg.DagsterInstance.ephemeral() as instance:
        for line in _fail_orphaned_runs(instance):
            typer.echo(line, err=True)
        keys = (
            sorted(selection.resolve(definitions.resolve_asset_graph()))
            if selection is not None
            else None
        )
        graph = definitions.resolve_asset_graph()
        partitioned = any(
            graph.get(k).partitions_def is not None
            for k in (keys or graph.get_all_asset_keys())
            if graph.get(k).is_executable
        )
        if partition and not partitioned:
            raise typer.BadParameter("no daily asset selected", param_hint="--partition")
        result = job.execute_in_process(
            instance=instance,
            asset_selection=keys,
            raise_on_error=False,
            tags={
                RUN_HOST_TAG: socket.gethostname(),
                RUN_PID_TAG: str(os.getpid()),
                **(_partition_tags(daily_partitions(), partition) if partitioned else {}),
            },
            # Dagster's per-step DEBUG events would bury dbt's and the assets' own progress lines
            # on the console; the run's full event log is still in the instance (and the UI).
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    if not result.success:
        for line in _failure_lines(result):
            typer.echo(line, err=True)
        raise typer.Exit(1)
    typer.echo(
        f"materialized {len(result.get_asset_materialization_events())} assets, "
        f"{len(result.get_asset_check_evaluations())} checks (run {result.run_id})"
    )
    from dagster_project.lib.warehouse import publish_read_copy

    typer.echo(f"published the read copy {publish_read_copy(Settings.from_env().duckdb_path)}")


RUN_HOST_TAG, RUN_PID_TAG = "mopt/host", "mopt/pid"


def _partition_tags(partitions, partition: str | None) -> dict[str, str]:
    """The run's day partitions: the day or range asked for (incremental), else the latest day
    tagged as a full build (the daily models then build every date, as a first build must)."""
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from dagster_project.defs.transform.assets import full_build_tags

    if partition is None:
        return full_build_tags()
    keys = partitions.get_partition_keys()
    start, _, end = partition.partition("...")
    end = end or start
    for key in (start, end):
        if not partitions.has_partition_key(key):
            raise typer.BadParameter(
                f"{key}: not a day partition (from {keys[0]} to {keys[-1]}; "
                "MOPT_PARTITIONS_START_DATE sets the first)",
                param_hint="--partition",
            )
    return {ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end}


def _fail_orphaned_runs(instance) -> list[str]:
    """Mark failed the runs this machine's `mopt` started whose process is gone (killed with
    SIGKILL, or the machine stopped): they would show as running in the UI forever."""
    import dagster as dg

    records = instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED], tags={RUN_HOST_TAG: socket.gethostname()}
        )
    )
    lines = []
    for record in records:
        run, pid = record.dagster_run, int(record.dagster_run.tags[RUN_PID_TAG])
        if not _running_since(pid, record.create_timestamp.timestamp()):
            message = f"its process (PID {pid}) ended without finishing it; marked failed"
            instance.report_run_failed(run, message)
            lines.append(f"run {run.run_id}: {message}")
    return lines


def _running_since(pid: int, since: float) -> bool:
    """Whether process `pid` exists and is the one that was running at `since` (not a later
    process that reuses the number)."""
    import psutil

    try:
        return psutil.Process(pid).create_time() <= since
    except psutil.NoSuchProcess:
        return False


def _failure_lines(result) -> list[str]:
    """One line per failed step: its key and the root cause (Dagster wraps the asset's own
    exception in its step error; the innermost cause is what the user can act on)."""
    lines = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None and error.cause is not None:
            error = error.cause
        # The message already starts with the exception type, as Python prints it.
        cause = _one_line(None, error.message) if error else "unknown error"
        lines.append(f"failed: {event.step_key}: {cause}")
    return lines or [f"run {result.run_id} failed (see its event log in the Dagster UI)"]


def _print_summary(settings: Settings) -> None:
    from dagster_project.lib.warehouse import connect_read_copy

    with connect_read_copy(settings.duckdb_path) as con:
        tables = con.sql(
            "select schema_name || '.' || table_name as name, estimated_size as rows"
            " from duckdb_tables() where schema_name in ('landing', 'bronze', 'silver', 'gold')"
            " order by schema_name, table_name"
        ).fetchall()
        quarantined = con.sql("select count(*) from bronze.quarantine").fetchone()[0]
    typer.echo(f"\nwarehouse: {settings.duckdb_path}  ({len(tables)} tables)")
    for name, rows in tables:
        if name.startswith(("gold.", "silver.")):
            typer.echo(f"  {name:<45} {rows:>12,} rows")
    typer.echo(f"quarantined rows: {quarantined:,}  (bronze.quarantine)")
    typer.echo(f"feature files:   {settings.features_dir}")
    from dagster_project.lib.features import sample_online_features

    sample = sample_online_features(settings)
    if sample:
        import polars as pl

        from dagster_project.lib.display import formatted

        typer.echo("one customer's online features (Feast, purchase_probability_v1):")
        for name, value in formatted(pl.DataFrame([sample])).row(0, named=True).items():
            typer.echo(f"  {name:<40} {value}")
    from dagster_project.lib.models.pipeline import champion_summary

    for line in champion_summary(settings.data_dir / "models"):
        typer.echo(line)
    typer.echo(f"raw sample world: {settings.raw_dir}  (ground truth in truth/)")
    _print_campaigns(settings)
    typer.echo("open the Dagster UI with `make ui` -> http://127.0.0.1:3000")


def _print_campaigns(settings: Settings) -> None:
    from dagster_project.lib.campaigns.report import audience_lines, uplift_lines
    from dagster_project.lib.warehouse import connect_read_copy

    with connect_read_copy(settings.duckdb_path) as con:
        typer.echo("\n".join(["", *audience_lines(con), "", *uplift_lines(con)]))


@app.command("campaign-check")
def campaign_check(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Campaign YAML files (default: every file in campaigns/)."),
    ] = None,
) -> None:
    """Parse campaign files and show each audience's funnel against the warehouse (consent,
    night-time consent, frequency cap, holdout) without writing anything."""
    from dagster_project.lib.campaigns import audience, config, source
    from dagster_project.lib.settings import REPO_ROOT
    from dagster_project.lib.warehouse import connect_read_copy

    settings = Settings.from_env()
    folder = Path(os.environ.get("MOPT_CAMPAIGNS_DIR", REPO_ROOT / "campaigns"))
    paths = files or config.campaign_files(folder)
    try:
        campaigns = [config.load_campaign(p) for p in paths]
    except config.CampaignError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e
    with connect_read_copy(settings.duckdb_path) as con:
        customers = source.audience_source(con)
        history = source.send_history(con)
        send_date = source.next_send_date(con)
    planned = audience.plan_campaigns(
        campaigns, customers, history, send_date, settings.business_timezone
    )
    for cid, result in planned.items():
        typer.echo(f"{cid} ({result.campaign.source})")
        for step, n in result.funnel.items():
            typer.echo(f"  {step:<24} {n:>9,}")


@app.command("plan-budget")
def plan_budget(
    budget: Annotated[
        float, typer.Option(help="Total budget for the planned weeks, KRW (e.g. 150000000).")
    ],
    bounds: Annotated[
        Path | None,
        typer.Option(help="YAML of per-channel weekly bounds (see docs/budget.md)."),
    ] = None,
    objective: Annotated[
        str, typer.Option(help="revenue, profit (margin x revenue - spend) or cac.")
    ] = "revenue",
    weeks: Annotated[int, typer.Option(help="Weeks planned from the Monday after the data.")] = 4,
    margin: Annotated[float, typer.Option(help="Gross margin, for profit.")] = 0.35,
    out: Annotated[Path, typer.Option(help="Folder for the CSVs and PNGs.")] = Path("budget_plan"),
) -> None:
    """Plan the next weeks' paid budget from the published warehouse: response curves fitted on
    incremental outcomes, the allocation, its forecast with a 90 % interval and the scenarios.
    Writes plan.csv (channel, week_start, spend), channels.csv, scenarios.csv and the curve
    charts (PNG) to --out."""
    from rich.console import Console
    from rich.table import Table

    from dagster_project.lib.budget import allocate, curves, plots
    from dagster_project.lib.warehouse import connect_read_copy

    console = Console()
    with connect_read_copy(Settings.from_env().duckdb_path) as con:
        inputs = curves.warehouse_inputs(con)
    if inputs.without_journeys:
        console.print(f"spend without journeys (not planned): {', '.join(inputs.without_journeys)}")
    if inputs.reason:
        console.print(f"nothing to plan: {inputs.reason}")
        return
    rc = curves.fit_curves(inputs.weekly)
    for ch, why in rc.skipped.items():
        console.print(f"not planned: {ch} ({why})")
    try:
        limits = allocate.load_bounds(bounds, rc) if bounds else None
        result = allocate.plan_budget(rc, budget, weeks, limits, objective, margin)
    except allocate.BudgetInputError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    out.mkdir(parents=True, exist_ok=True)
    result.plan.write_csv(out / "plan.csv")
    result.table.write_csv(out / "channels.csv")
    result.scenarios.write_csv(out / "scenarios.csv")
    charts = plots.curve_charts(
        curves.curve_table(rc, {ch: h for ch, (_, h) in (limits or {}).items()}),
        {ch: c.current_spend for ch, c in rc.curves.items()},
        result.allocation.spend,
        out,
    )
    table = Table(title=f"Budget plan: {budget:,.0f} KRW over {weeks} weeks ({objective})")
    for name in ("channel", "current / wk", "plan / wk", "change", "mROAS", "revenue (90 %)"):
        table.add_column(name, justify="left" if name == "channel" else "right")
    for r in result.table.iter_rows(named=True):
        table.add_row(
            r["channel"] + (f" [{r['bound']}]" if r["bound"] else ""),
            f"{r['current_weekly_krw']:,.0f}",
            f"{r['recommended_weekly_krw']:,.0f}",
            "" if r["change"] is None else f"{r['change']:+.0%}",
            f"{r['marginal_roas']:.2f}",
            f"{r['revenue_krw']:,.0f} ({r['revenue_krw_low']:,.0f}-{r['revenue_krw_high']:,.0f})",
        )
    console.print(table)
    scen = Table(title="Scenarios (forecast over the planned weeks)")
    for name in ("scenario", "spend", "revenue (90 %)", "orders", "ROAS"):
        scen.add_column(name, justify="left" if name == "scenario" else "right")
    for r in result.scenarios.iter_rows(named=True):
        scen.add_row(
            r["scenario"],
            f"{r['spend_krw']:,.0f}",
            f"{r['revenue_krw']:,.0f} ({r['revenue_krw_low']:,.0f}-{r['revenue_krw_high']:,.0f})",
            f"{r['orders']:,.0f}",
            "" if r["roas"] is None else f"{r['roas']:.2f}",
        )
    console.print(scen)
    console.print(f"wrote {out}/plan.csv, channels.csv, scenarios.csv and {len(charts)} PNGs")


@app.command("uplift-report")
def uplift_report() -> None:
    """Print the uplift report of executed campaigns (built by the gold/campaign_uplift asset)."""
    from dagster_project.lib.campaigns.report import uplift_lines
    from dagster_project.lib.warehouse import connect_read_copy

    with connect_read_copy(Settings.from_env().duckdb_path) as con:
        typer.echo("\n".join(uplift_lines(con, limit=1000)))


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="Folder for the HTML pages (index.html first).")],
) -> None:
    """Write the marketing report: one static HTML page per area, charts inline.

    Reads the warehouse's read copy (published after every run) and the model registry."""
    from dagster_project.lib.report.build import write_report
    from dagster_project.lib.warehouse import connect_read_copy

    settings = Settings.from_env()
    with connect_read_copy(settings.duckdb_path) as con:
        pages = write_report(con, settings.data_dir / "models", out, str(settings.duckdb_path))
    for page in pages:
        typer.echo(f"wrote {page} ({page.stat().st_size / 1024:,.0f} KB)")


@app.command()
def profile(
    customer_id: Annotated[str, typer.Argument(help="The customer's id, e.g. C000123.")],
    html: Annotated[
        Path | None, typer.Option(help="Also write the profile as one HTML page to this file.")
    ] = None,
    playbook: Annotated[
        Path | None,
        typer.Option(help="Playbook YAML (default: $MOPT_PLAYBOOK or lib/profile/playbook.yml)."),
    ] = None,
    recent: Annotated[int, typer.Option(min=1, help="Rows of each journey table.")] = 10,
) -> None:
    """One customer's profile: who they are, what the models say, their recent journey, the
    campaigns they received, product candidates and the suggested strategy.

    Reads the warehouse's read copy and Feast's online store for the fields Feast serves."""
    from dagster_project.lib.profile.gather import UnknownCustomerError, gather_profile
    from dagster_project.lib.profile.playbook import PlaybookError, load_playbook
    from dagster_project.lib.profile.render import print_profile, write_html
    from dagster_project.lib.warehouse import connect_read_copy, read_copy_path

    settings = Settings.from_env()
    try:
        book = load_playbook(playbook)
        with connect_read_copy(settings.duckdb_path) as con:
            found = gather_profile(con, customer_id, book, settings, recent=recent)
    except (UnknownCustomerError, PlaybookError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    print_profile(found)
    if html:
        written = write_html(found, html, str(read_copy_path(settings.duckdb_path)))
        typer.echo(f"wrote {written} ({written.stat().st_size / 1024:,.0f} KB)")


# The orders-only export `mopt backtest` and `mopt forecast` read (lib/models/orders.py).
OrdersFile = Annotated[
    Path, typer.Option(help="Orders CSV or Parquet: customer_id, ordered_at, order_amount.")
]


@app.command()
def backtest(
    orders: OrdersFile,
    cutoff: Annotated[
        str, typer.Option(help="Cutoff date YYYY-MM-DD (midnight UTC): train on orders before it.")
    ],
    out: Annotated[
        Path, typer.Option(help="Folder for predictions.parquet/.csv, metrics.json, report.md.")
    ],
    horizon_days: Annotated[
        int, typer.Option(help="Predict purchases and spend for this many days from the cutoff.")
    ] = 30,
    step_days: Annotated[int, typer.Option(help="Days between training cutoffs.")] = 14,
    train_cutoffs: Annotated[int, typer.Option(help="Training cutoffs (at most).")] = 8,
    seed: Annotated[int, typer.Option(help="LightGBM seed.")] = 0,
) -> None:
    """Backtest the purchase and ZILN spend models on your own orders: train before the cutoff,
    predict the next H days, and (when the file has them) compare with what happened, next to the
    recency/RFM/past-spend baselines and BG/NBD + Gamma-Gamma."""
    from datetime import date

    from tqdm import tqdm

    from dagster_project.lib.models.backtest import backtest_file, report_markdown
    from dagster_project.lib.models.orders import OrdersFileError
    from dagster_project.lib.models.ziln import BoosterParams

    try:
        cutoff_date = date.fromisoformat(cutoff)
    except ValueError as err:
        raise typer.BadParameter(f"--cutoff {cutoff!r}: expected YYYY-MM-DD") from err
    with tqdm(total=1, desc="backtest", disable=None) as bar:
        try:
            result, paths = backtest_file(
                orders,
                cutoff_date,
                horizon_days,
                out,
                step_days=step_days,
                max_train_cutoffs=train_cutoffs,
                params=BoosterParams(seed=seed),
            )
        except (OrdersFileError, ValueError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from err
        bar.update(1)
    typer.echo(report_markdown(result))
    typer.echo(f"wrote {', '.join(str(p) for p in paths.values())}")


@app.command()
def forecast(
    orders: OrdersFile,
    out: Annotated[
        Path, typer.Option(help="Folder for forecast.csv, backtest.csv, metrics.json, report.md.")
    ],
    horizon: Annotated[
        int, typer.Option(help="Forecast this many days (1-28) past the last.")
    ] = 28,
    weather: Annotated[
        Path | None,
        typer.Option(
            help="Optional weather CSV/Parquet: date, region, precipitation_mm, mean_temp_c."
        ),
    ] = None,
    time_zone: Annotated[
        str, typer.Option(help="Business time zone: an order's day is its date there.")
    ] = "UTC",
    holiday_country: Annotated[
        str, typer.Option(help="Public holidays of this country (the `holidays` package code).")
    ] = "KR",
    eval_days: Annotated[int, typer.Option(help="Backtest origins: the last N days.")] = 84,
) -> None:
    """Forecast daily revenue of an orders-only export: a rolling-origin backtest at 1, 7 and
    28 days (LightGBM next to ETS and seasonal naive: MASE, WAPE, interval coverage), then the
    next --horizon days with an 80 % interval."""
    from tqdm import tqdm

    from dagster_project.lib.forecast.files import WeatherFileError, forecast_file
    from dagster_project.lib.forecast.report import backtest_markdown
    from dagster_project.lib.models.orders import OrdersFileError

    with tqdm(total=1, desc="forecast", disable=None) as bar:
        try:
            result, _, paths = forecast_file(
                orders,
                out,
                horizon,
                weather,
                time_zone=time_zone,
                eval_days=eval_days,
                holiday_country=holiday_country,
            )
        except (OrdersFileError, WeatherFileError, ValueError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from err
        bar.update(1)
    typer.echo(backtest_markdown(result))
    typer.echo(f"wrote {', '.join(str(p) for p in paths.values())}")


@app.command()
def attribute(
    touches: Annotated[
        Path,
        typer.Option(
            help="CSV/Parquet, one row per touch: journey_id, touched_at, channel, "
            "optional campaign_id, touch_type, funnel_stage."
        ),
    ],
    outcomes: Annotated[
        Path,
        typer.Option(
            help="CSV/Parquet, one row per journey: journey_id, converted, revenue, "
            "optional customer_id and as_of."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder for the credit tables.")],
    customer_features: Annotated[
        Path | None,
        typer.Option(
            help="Optional CSV/Parquet of customer snapshots: customer_id, "
            "event_timestamp, numeric features (point-in-time, for the "
            "incrementality model)."
        ),
    ] = None,
    lookback_days: Annotated[
        float, typer.Option(help="Touches this many days before the journey's as-of time count.")
    ] = 30.0,
    half_life_days: Annotated[float, typer.Option(help="Time-decay half-life.")] = 7.0,
    markov_orders: Annotated[
        str, typer.Option(help="Markov chain orders, comma-separated.")
    ] = "1,2,3",
    timezone: Annotated[str, typer.Option(help="Time zone of business days.")] = "UTC",
) -> None:
    """Run every attribution model on your own tracking export and write the credit tables."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from dagster_project.lib.attribution.cli import attribute_command
    from dagster_project.lib.attribution.journeys import JourneyInputError

    try:
        orders = tuple(int(k) for k in markov_orders.split(","))
    except ValueError as err:
        message = f"{markov_orders!r}: integers, e.g. 1,2,3"
        raise typer.BadParameter(message, param_hint="--markov-orders") from err
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        message = f"{timezone!r} is not an IANA time zone"
        raise typer.BadParameter(message, param_hint="--timezone") from err
    try:
        attribute_command(
            touches=touches,
            outcomes=outcomes,
            out=out,
            customer_features=customer_features,
            lookback_days=lookback_days,
            half_life_days=half_life_days,
            markov_orders=orders,
            timezone=timezone,
            echo=typer.echo,
        )
    except JourneyInputError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err


bench_app = typer.Typer(
    help="Benchmarks, one suite per command: each writes bench/out/<suite>.json and its table "
    "in docs/benchmarks.md.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")
WORKDIR = Path("bench/out/work")


@bench_app.command("foundation")
def bench_foundation(
    sizes: Annotated[
        str, typer.Option(help="Comma-separated customers x days, e.g. 10000x365,100000x365.")
    ] = "10000x365,100000x365",
    repeats: Annotated[
        int, typer.Option(help="Runs per size, each from scratch; the median is reported.")
    ] = 1,
    workdir: Annotated[Path, typer.Option(help="Scratch folder (deleted per size).")] = WORKDIR,
) -> None:
    """Simulate, ingest and dbt build per world size, and the DuckDB floor under the build.

    Each stage runs as its own process from scratch: wall time, peak RSS and rows. The floor
    replays the build's SQL as plain DuckDB statements; the report gives build / floor."""
    from dagster_project.lib.bench import foundation

    foundation.run(sizes.split(","), workdir.resolve(), repeats)


@bench_app.command("scale")
def bench_scale(
    sizes: Annotated[
        str, typer.Option(help="Comma-separated customers x days, e.g. 10000x365,100000x365.")
    ] = "10000x365,100000x365",
    repeats: Annotated[int, typer.Option(help="Runs per size, each from scratch; medians.")] = 1,
    memory_limit: Annotated[
        str, typer.Option(help="DuckDB's memory limit for every stage (MOPT_DUCKDB_MEMORY_LIMIT).")
    ] = "10GB",
    block_days: Annotated[
        int | None,
        typer.Option(help="Days per block the simulator streams (its default if unset)."),
    ] = None,
    workdir: Annotated[Path, typer.Option(help="Scratch folder (deleted per size).")] = WORKDIR,
) -> None:
    """The whole platform end to end per world size, stage by stage (simulate, ingest, dbt,
    segments, products, Feast, models, attribution and budget, forecast, CRM and campaigns).

    Each stage is its own process: wall time, peak RSS and milliseconds per customer, which must
    not grow with the world; the largest peak must stay under 20 GB at 1M customers."""
    from dagster_project.lib.bench import scale

    scale.run(
        sizes.split(","),
        workdir.resolve(),
        repeats,
        memory_limit=memory_limit,
        block_days=block_days,
    )


@bench_app.command("incremental")
def bench_incremental(
    size: Annotated[str, typer.Option(help="Customers x days, e.g. 20000x365.")] = "20000x365",
    repeats: Annotated[int, typer.Option(help="Runs of each build; the median is reported.")] = 3,
    workdir: Annotated[Path, typer.Option(help="Scratch folder (deleted first).")] = WORKDIR,
    lock: Annotated[
        Path | None,
        typer.Option(help="A file to flock around each stage (the setup, each mode's builds)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Reuse the world of an earlier run (landed, or built).")
    ] = False,
    modes: Annotated[
        str,
        typer.Option(
            help="Builds to time, comma-separated: 'full build', 'incremental day', "
            "'incremental day, --vars' (give them with ';' between)."
        ),
    ] = "",
) -> None:
    """One incremental day (the last day landed after a build of the others) against a full
    dbt build of the same world: wall time, and the daily models' own time."""
    from dagster_project.lib.bench import incremental

    incremental.run(
        size,
        workdir.resolve(),
        repeats,
        lock=lock,
        resume=resume,
        modes=[m.strip() for m in modes.split(";") if m.strip()] or None,
    )


@bench_app.command("demo")
def bench_demo(
    repeats: Annotated[int, typer.Option(help="Runs; the median wall time is reported.")] = 1,
    workdir: Annotated[
        Path, typer.Option(help="Scratch folder (a fresh data dir and DAGSTER_HOME per run).")
    ] = WORKDIR / "demo",
) -> None:
    """`mopt demo` end to end, against the target of under 3 minutes.

    Runs `mopt demo` (20,000 customers x 180 days: simulate, then every asset through Dagster) as
    a process on fresh state, as after `make install`: wall time (median over runs), peak RSS."""
    from dagster_project.lib.bench import demo

    demo.run(repeats, workdir.resolve())


@bench_app.command("features")
def bench_features(
    customers: Annotated[int, typer.Option(help="Customers in the simulated world.")] = 100_000,
    days: Annotated[int, typer.Option(help="Days in the simulated world.")] = 365,
    seed: Annotated[int, typer.Option(help="Random seed (world and samples).")] = 42,
    workdir: Annotated[Path, typer.Option(help="Scratch folder.")] = WORKDIR / "features",
    features_dir: Annotated[
        Path | None, typer.Option(help="Existing feature files (skips building a world).")
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option(help="Redis host:port; with --registry-url runs production too.")
    ] = None,
    registry_url: Annotated[
        str | None, typer.Option(help="postgresql+psycopg://... for the Feast SQL registry.")
    ] = None,
    entity_rows: Annotated[int, typer.Option(help="Rows of the historical retrieval.")] = 100_000,
    reads: Annotated[int, typer.Option(help="Online reads per batch size and run.")] = 500,
    repeats: Annotated[int, typer.Option(help="Runs of each measurement; medians.")] = 3,
    profiles: Annotated[
        str, typer.Option(help="Profiles to run, comma-separated (production needs both URLs).")
    ] = "embedded,production",
    lock: Annotated[
        Path | None,
        typer.Option(help="Hold an flock on this file during each timed run (shared machines)."),
    ] = None,
) -> None:
    """Feast: materialization paths and rows/s, historical retrieval, online latency.

    Builds the feature files of a simulated world (unless --features-dir), then per online store
    (SQLite; with both URLs also Redis with a PostgreSQL registry): Feast's materialization paths
    on a sample of customers (materialize, materialize_incremental, write_to_online_store at
    several batch sizes), the platform's full materialization of every view, a point-in-time
    retrieval of --entity-rows rows, and online read latency (p50/p99) at batch 1, 10 and 100,
    in process and through `feast serve`. Medians of --repeats runs."""
    from dagster_project.lib.bench import features

    features.run(
        customers,
        days,
        seed,
        workdir.resolve(),
        features_dir.resolve() if features_dir else None,
        redis_url,
        registry_url,
        entity_rows,
        reads,
        repeats,
        tuple(p.strip() for p in profiles.split(",") if p.strip()),
        lock,
    )


@bench_app.command("models")
def bench_models(
    sizes: Annotated[
        str, typer.Option(help="Orders-only backtests at these customers x days sizes.")
    ] = "20000x180,100000x365",
    feast_size: Annotated[
        str,
        typer.Option(help="Feature-store path (dbt + Feast + both models) at this size; '' skips."),
    ] = "20000x180",
    workdir: Annotated[Path, typer.Option(help="Scratch folder.")] = WORKDIR,
) -> None:
    """Model metrics next to the baselines, and training times.

    The feature-store path (dbt, Feast, both models) at --feast-size, orders-only backtests at
    each of --sizes, and CDNOW, where BG/NBD + Gamma-Gamma is the baseline."""
    from dagster_project.lib.bench import models
    from dagster_project.lib.bench.common import parse_size

    models.run(
        [parse_size(s) for s in sizes.split(",") if s],
        parse_size(feast_size) if feast_size else None,
        workdir.resolve(),
    )


@bench_app.command("forecast")
def bench_forecast(
    size: Annotated[str, typer.Option(help="Simulated world, customers x days.")] = "20000x400",
    repeats: Annotated[int, typer.Option(help="Runs per stage; the median is reported.")] = 3,
) -> None:
    """Demand forecast: backtest (fit + rolling origins) and a forward fit, on a simulated
    world's category sales and on CDNOW's daily revenue; median wall time over --repeats."""
    from dagster_project.lib.bench import forecast
    from dagster_project.lib.bench.common import parse_size

    customers, days = parse_size(size)
    forecast.run(customers, days, repeats)


@bench_app.command("segments")
def bench_segments(
    warehouse: Annotated[
        Path | None, typer.Option(help="Warehouse file (default: MOPT_DUCKDB_PATH / the demo's).")
    ] = None,
    repeats: Annotated[int, typer.Option(help="Runs per stage; the median is reported.")] = 3,
) -> None:
    """Segments, audiences and uplift on a built warehouse.

    On a copy of the warehouse (e.g. the demo's): segments, the sample campaigns' audiences, the
    uplift report and the coupon uplift model; median wall time over --repeats."""
    from dagster_project.lib.bench import segments

    segments.run(warehouse or Settings.from_env().duckdb_path, repeats)


@bench_app.command("products")
def bench_products(
    customers: Annotated[int, typer.Option(help="Customers in the simulated world.")] = 100_000,
    days: Annotated[int, typer.Option(help="Days in the simulated world.")] = 90,
    products: Annotated[int, typer.Option(help="Products in the catalogue (about).")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    repeats: Annotated[int, typer.Option(help="Runs per stage; the median is reported.")] = 3,
    reads: Annotated[int, typer.Option(help="Online reads of one customer's candidates.")] = 500,
    workdir: Annotated[Path, typer.Option(help="Scratch folder.")] = WORKDIR / "products",
) -> None:
    """Product axis: embeddings, candidates, neighbours, online read.

    Simulates a world (factual only), then per stage in its own process: PPMI-SVD and ALS
    embeddings, candidate lists for every customer, product neighbours (brute force vs hnswlib),
    and the p50/p99 of reading one customer's candidates through Feast."""
    from dagster_project.lib.bench import products as bench

    bench.run(customers, days, products, seed, repeats, reads, workdir.resolve())


@bench_app.command("ui")
def bench_ui(
    repeats: Annotated[int, typer.Option(help="Runs per stage; the median is reported.")] = 5,
) -> None:
    """Definitions load time (the UI, its code server and every run from it pay it).

    Each load is a fresh process: plain, under `dagster dev` with a current manifest, and the
    `dbt parse` a load under `dagster dev` paid before the manifest was cached."""
    from dagster_project.lib.bench import ui

    ui.run(repeats)


@bench_app.command("attribution")
def bench_attribution(
    sizes: Annotated[str, typer.Option(help="Comma-separated journey counts.")] = "100000,1000000",
    repeats: Annotated[int, typer.Option(help="Runs per step; the median is reported.")] = 3,
    incrementality: Annotated[
        bool,
        typer.Option(
            help="Run the incrementality model; without it, its figures are kept from the "
            "previous bench/out/attribution.json."
        ),
    ] = True,
) -> None:
    """Attribution models on synthetic journeys.

    Seeded journeys over 8 channels: journey building, Markov-1 removal effects, every standard
    model for three scopes, and the incrementality model."""
    from dagster_project.lib.bench import attribution

    attribution.run([int(n) for n in sizes.split(",")], repeats, incrementality)


@app.command("crm-lab")
def crm_lab(
    customers: Annotated[int, typer.Option(help="Customers in the simulated world.")] = 40_000,
    days: Annotated[int, typer.Option(help="Days of the world before the lab's weeks.")] = 120,
    seed: Annotated[
        int, typer.Option(help="World seed (not the one the models were built on).")
    ] = 2026,
    out: Annotated[Path, typer.Option(help="Folder for the result tables.")] = Path(
        "bench/out/crm_lab"
    ),
    arms_worlds: Annotated[
        int,
        typer.Option(
            help="Only the multi-arm test, on this many worlds (seeds seed, seed+1, ...), with "
            "each reward: how often each mode ends on the true best arm per segment."
        ),
    ] = 0,
) -> None:
    """The CRM lab (docs/crm.md): send times, personal caps and multi-arm tests re-simulated on
    the same random numbers of one simulated world; prints the tables and writes Parquet."""
    import polars as pl

    from dagster_project.lib.crm import lab
    from dagster_project.lib.simulate import WorldConfig

    if arms_worlds:
        power = lab.arms_power(
            lab.lab_world(WorldConfig(customers=customers, days=days, seed=seed))
        )
        table = lab.arms_over_worlds(customers, list(range(seed, seed + arms_worlds)), days)
        out.mkdir(parents=True, exist_ok=True)
        power.write_parquet(out / f"arms_power_{customers}.parquet")
        table.write_parquet(out / f"arms_worlds_{customers}.parquet")
        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=250):
            typer.echo(f"== arms power, world seed {seed}\n{power}")
            typer.echo(f"== arms over {arms_worlds} worlds of {customers} customers\n{table}")
        return
    lw = lab.lab_world(WorldConfig(customers=customers, days=days, seed=seed))
    out.mkdir(parents=True, exist_ok=True)
    tables = {"send_time": lab.send_time_experiment(lw), "caps_accuracy": lab.caps_accuracy(lw)}
    tables["caps"] = lab.caps_experiment(lw, progress=print)
    summary, comparisons, arms_fixed, adaptive, per_segment = lab.arms_experiment(lw)
    tables |= {
        "arms_summary": summary,
        "arms_comparisons": comparisons,
        "arms_fixed": arms_fixed,
        "arms_adaptive": adaptive,
        "arms_per_segment": per_segment,
    }
    for name, table in tables.items():
        table.write_parquet(out / f"{name}.parquet")
        typer.echo(f"== {name}\n{table}")


policy_app = typer.Typer(
    help="The policy lab: re-simulate a period of a simulated world under a spend plan or a "
    "coupon targeting policy, on the same random numbers (docs/budget.md).",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")


def _lab_world(customers: int, days: int, seed: int, start_date: str):
    from datetime import date

    from dagster_project.lib.simulate import WorldConfig

    return WorldConfig(
        customers=customers, days=days, seed=seed, start_date=date.fromisoformat(start_date)
    )


def _show_lab(table, out: Path, title: str) -> None:
    """Print the lab's table (rich) and write it as CSV and JSON beside `out`."""
    import json

    from rich.console import Console
    from rich.table import Table

    from dagster_project.lib.budget.lab import DISPLAY_COLUMNS

    view = Table(title=title)
    for col in DISPLAY_COLUMNS:
        view.add_column(col, justify="left" if col == "plan" else "right")
    for row in table.select(DISPLAY_COLUMNS).iter_rows():
        view.add_row(
            *(
                v
                if isinstance(v, str)
                else "-"
                if v is None
                else f"{v:,.2f}"
                if abs(v) < 100
                else f"{v:,.0f}"
                for v in row
            )
        )
    Console().print(view)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.write_csv(out.with_suffix(".csv"))
    out.with_suffix(".json").write_text(json.dumps(table.to_dicts(), indent=2, default=str) + "\n")
    typer.echo(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.json')}")


def _day_progress(days: int):
    from rich.progress import Progress

    bar = Progress()
    task = bar.add_task("simulating days", total=days)
    return bar, lambda _d: bar.advance(task)


LabCustomers = Annotated[int, typer.Option(help="Customers in the simulated world.")]
LabDays = Annotated[int, typer.Option(help="Days in the simulated world.")]
LabSeed = Annotated[int, typer.Option(help="The world's seed.")]
LabStartDate = Annotated[str, typer.Option(help="The world's first day (YYYY-MM-DD).")]
LabStart = Annotated[
    str, typer.Option(help="First day of the period (a week start of the world, YYYY-MM-DD).")
]
LabPeriod = Annotated[int, typer.Option("--days", help="Days in the period (a multiple of 7).")]


@policy_app.command("current")
def policy_current(
    start: LabStart,
    out: Annotated[Path, typer.Option(help="CSV file for the plan.")] = Path("plan.csv"),
    days: LabPeriod = 28,
    customers: LabCustomers = 20_000,
    world_days: Annotated[int, typer.Option(help="Days in the simulated world.")] = 182,
    seed: LabSeed = 42,
    start_date: LabStartDate = "2025-03-03",
) -> None:
    """Write the world's own spend plan for the period (channel, week_start, spend), to edit."""
    from dagster_project.lib.budget import lab

    cfg = _lab_world(customers, world_days, seed, start_date)
    from datetime import date

    plan = lab.current_plan(cfg, date.fromisoformat(start), days)
    plan.write_csv(out)
    typer.echo(f"wrote {out}: {plan.height} rows, {plan['spend'].sum():,.0f} KRW")


@policy_app.command("evaluate")
def policy_evaluate(
    plan: Annotated[list[Path], typer.Option(help="Spend plan CSV/Parquet; repeat for several.")],
    start: LabStart,
    days: LabPeriod = 28,
    customers: LabCustomers = 20_000,
    world_days: Annotated[int, typer.Option(help="Days in the simulated world.")] = 182,
    seed: LabSeed = 42,
    start_date: LabStartDate = "2025-03-03",
    out: Annotated[Path, typer.Option(help="Output stem (.csv and .json).")] = Path(
        "bench/out/policy_evaluate"
    ),
) -> None:
    """Evaluate spend plans against the current policy and against no marketing."""
    from datetime import date

    from dagster_project.lib.budget import lab

    cfg = _lab_world(customers, world_days, seed, start_date)
    plans = {p.stem: lab.read_plan(p) for p in plan}
    first = date.fromisoformat(start)
    for path in plan:  # fail on the file's own name, row and rule before simulating
        lab.plan_daily_spend(plans[path.stem], first, days, str(path))
    bar, tick = _day_progress((first - cfg.start_date).days + days)
    with bar:
        table = lab.evaluate_plans(cfg, plans, first, days, progress=tick)
    _show_lab(table, out, f"spend plans, {start} + {days} days ({customers:,} customers)")


@policy_app.command("coupons")
def policy_coupons(
    start: LabStart,
    coupons: Annotated[int, typer.Option(help="Coupons per policy (the same for each).")] = 2_000,
    discount: Annotated[float, typer.Option(help="Fixed discount, KRW.")] = 5_000.0,
    min_order: Annotated[float, typer.Option(help="Minimum order for the coupon, KRW.")] = 30_000.0,
    days: LabPeriod = 28,
    customers: LabCustomers = 20_000,
    world_days: Annotated[int, typer.Option(help="Days in the simulated world.")] = 182,
    seed: LabSeed = 42,
    start_date: LabStartDate = "2025-03-03",
    out: Annotated[Path, typer.Option(help="Output stem (.csv and .json).")] = Path(
        "bench/out/policy_coupons"
    ),
) -> None:
    """Coupon play: recency vs P(buy) x LTV vs uplift model vs random, judged in the lab.

    Simulates the world's history, fits the platform's ZILN and uplift models on the orders and
    past coupon tests before START, picks each policy's customers and re-simulates the period
    with the same coupon sent to each policy's set."""
    from dataclasses import replace
    from datetime import date

    from dagster_project.lib.budget import lab
    from dagster_project.lib.simulate import simulate

    cfg = _lab_world(customers, world_days, seed, start_date)
    first = date.fromisoformat(start)
    typer.echo("simulating the history and fitting the targeting models ...")
    history = simulate(replace(cfg, counterfactuals=False))
    targets = lab.coupon_targets(cfg, history.tables, first, coupons, seed=seed)
    offer = lab.CouponOffer(discount_value=discount, min_order_amount=min_order)
    bar, tick = _day_progress((first - cfg.start_date).days + days)
    with bar:
        table = lab.evaluate_coupon_policies(cfg, targets, first, days, offer, progress=tick)
    _show_lab(table, out, f"coupon policies, {coupons:,} coupons of {discount:,.0f} KRW")


@bench_app.command("budget")
def bench_budget(
    sections: Annotated[
        str,
        typer.Option(
            help="Comma-separated sections: fit (curves + allocator), lab (policy lab), "
            "allocator (the allocator judged in the lab on unseen seeds, about 8 minutes)."
        ),
    ] = "fit,lab",
    repeats: Annotated[int, typer.Option(help="Runs per section; the median is reported.")] = 3,
) -> None:
    """Budget decisions: curve fit + plan (8 channels x 52 weeks, recovery over 12 seeds), one
    policy-lab evaluation of a 100k-customer, 28-day period, and (section allocator) the
    allocator fitted through the pipeline on seed 1 and re-simulated on seeds 2-4 against the
    current split, a last-click-ROAS split and the lab-searched oracle.

    Writes bench/out/budget_<section>.json and its table in docs/budget.md."""
    from dagster_project.lib.bench import budget

    budget.run(sections.split(","), repeats)


@bench_app.command("crm")
def bench_crm(
    sections: Annotated[
        str,
        typer.Option(
            help="Comma-separated sections: triggers (one trigger tick), trigger_lab "
            "(triggered vs weekly batch in the lab, docs/crm.md), send_time and caps (the "
            "per-customer models at 100k customers)."
        ),
    ] = "triggers",
    repeats: Annotated[int, typer.Option(help="Runs per section; the median is reported.")] = 3,
) -> None:
    """CRM decisions: a triggered-campaign tick over one day of events of a 100k-customer world;
    the send-time and personal-cap models fitted for 100k customers.

    Writes bench/out/crm_<section>.json and its table in docs/benchmarks.md."""
    from dagster_project.lib.bench import crm

    crm.run(sections.split(","), repeats)
