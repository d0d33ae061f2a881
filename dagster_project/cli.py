"""`mopt`: the things people run by hand. Everything else runs as Dagster assets."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
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
    run would go on alone: Linux sends us SIGTERM when the parent dies, and SIGTERM is handled
    as Ctrl-C, which Dagster turns into a run marked failed."""
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    if sys.platform == "linux":
        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            raise SystemExit(1)


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
) -> None:
    """Simulate a marketplace world in the raw data contract, with its ground truth."""
    from dagster_project.lib.simulate.cli import simulate_command

    simulate_command(customers=customers, days=days, seed=seed, out=out, fmt=fmt)


@app.command()
def materialize(
    select: Annotated[
        str, typer.Option(help="Dagster asset selection, e.g. 'group:bronze' or '*'.")
    ] = "*",
) -> None:
    """Materialize assets through the same Definitions the Dagster UI loads."""
    _materialize(select)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="Customers in the sample world.")] = 20_000,
    days: Annotated[int, typer.Option(help="Days in the sample world.")] = 180,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """Simulate the sample world (unless present), materialize every asset, say where it is."""
    settings = Settings.from_env()
    if not (settings.raw_dir / "orders.parquet").exists():
        simulate(out=settings.raw_dir, customers=customers, days=days, seed=seed)
    _materialize("*")
    _print_summary(settings)


def _materialize(select: str) -> None:
    import dagster as dg

    from dagster_project.definitions import defs

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
        result = job.execute_in_process(
            instance=instance,
            asset_selection=keys,
            raise_on_error=False,
            tags={RUN_HOST_TAG: socket.gethostname(), RUN_PID_TAG: str(os.getpid())},
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
        typer.echo("one customer's online features (Feast, purchase_probability_v1):")
        for name, value in sample.items():
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
def backtest(
    orders: Annotated[
        Path, typer.Option(help="Orders CSV or Parquet: customer_id, ordered_at, order_amount.")
    ],
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
    """Simulate, ingest and dbt build per world size.

    Each stage runs as its own process from scratch: wall time, peak RSS and rows."""
    from dagster_project.lib.bench import foundation

    foundation.run(sizes.split(","), workdir.resolve(), repeats)


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
    reads: Annotated[int, typer.Option(help="Online reads per batch size.")] = 500,
) -> None:
    """Feast: materialization, historical retrieval, online latency.

    Builds the feature files of a simulated world (unless --features-dir), then per online store
    (SQLite; with both URLs also Redis with a PostgreSQL registry): a full materialization, a
    point-in-time retrieval of --entity-rows rows, and online read latency (p50/p99) at batch 1,
    10 and 100."""
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
