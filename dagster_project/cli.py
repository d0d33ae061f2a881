"""`mopt`: the things people run by hand. Everything else runs as Dagster assets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from dagster_project.lib.settings import Settings

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


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


@app.command()
def bench(
    sizes: Annotated[
        str, typer.Option(help="Comma-separated customers x days, e.g. 10000x365,100000x365.")
    ] = "10000x365,100000x365",
    workdir: Annotated[Path, typer.Option(help="Scratch folder (deleted per size).")] = Path(
        "bench/out/work"
    ),
) -> None:
    """Time simulate, ingest and dbt build per world size; writes bench/out/foundation.json and
    the table in docs/benchmarks.md."""
    from dagster_project.lib.bench import bench_world, write_report
    from dagster_project.lib.settings import REPO_ROOT

    results = []
    for size in sizes.split(","):
        customers, days = (int(x) for x in size.lower().split("x"))
        results += bench_world(customers, days, workdir / size)
    write_report(results, REPO_ROOT / "bench/out", REPO_ROOT / "docs/benchmarks.md")
    typer.echo("wrote bench/out/foundation.json and docs/benchmarks.md")


def _materialize(select: str) -> None:
    import dagster as dg

    from dagster_project.definitions import defs

    definitions = defs()
    selection = dg.AssetSelection.from_string(select) if select != "*" else None
    job = definitions.resolve_implicit_global_asset_job_def()
    home = os.environ.get("DAGSTER_HOME")
    with dg.DagsterInstance.get() if home else dg.DagsterInstance.ephemeral() as instance:
        keys = (
            sorted(selection.resolve(definitions.resolve_asset_graph()))
            if selection is not None
            else None
        )
        result = job.execute_in_process(
            instance=instance,
            asset_selection=keys,
            # Dagster's per-step DEBUG events would bury dbt's and the assets' own progress lines
            # on the console; the run's full event log is still in the instance (and the UI).
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    if not result.success:
        raise typer.Exit(1)
    typer.echo(
        f"materialized {len(result.get_asset_materialization_events())} assets, "
        f"{len(result.get_asset_check_evaluations())} checks (run {result.run_id})"
    )


def _print_summary(settings: Settings) -> None:
    from dagster_project.lib.warehouse import connect

    with connect(settings.duckdb_path, read_only=True) as con:
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
    from dagster_project.lib.warehouse import connect

    with connect(settings.duckdb_path, read_only=True) as con:
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
    from dagster_project.lib.warehouse import connect

    settings = Settings.from_env()
    folder = Path(os.environ.get("MOPT_CAMPAIGNS_DIR", REPO_ROOT / "campaigns"))
    paths = files or config.campaign_files(folder)
    try:
        campaigns = [config.load_campaign(p) for p in paths]
    except config.CampaignError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e
    with connect(settings.duckdb_path, read_only=True) as con:
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
    from dagster_project.lib.warehouse import connect

    with connect(Settings.from_env().duckdb_path, read_only=True) as con:
        typer.echo("\n".join(uplift_lines(con, limit=1000)))


@app.command("bench-segments")
def bench_segments(
    warehouse: Annotated[
        Path | None, typer.Option(help="Warehouse file (default: MOPT_DUCKDB_PATH / the demo's).")
    ] = None,
    repeats: Annotated[int, typer.Option(help="Runs per stage; the median is reported.")] = 3,
) -> None:
    """Time segments, audiences, the uplift report and the coupon uplift model on a copy of a
    built warehouse; writes bench/out/segments.json and its table in docs/benchmarks.md."""
    from dagster_project.lib import bench_segments as b
    from dagster_project.lib.settings import REPO_ROOT

    path = warehouse or Settings.from_env().duckdb_path
    results = b.bench_segments(path, REPO_ROOT / "campaigns", repeats)
    b.write_report(results, REPO_ROOT / "bench/out", REPO_ROOT / "docs/benchmarks.md", repeats)
    typer.echo("wrote bench/out/segments.json and docs/benchmarks.md")


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


@app.command("bench-models")
def bench_models(
    sizes: Annotated[
        str, typer.Option(help="Orders-only backtests at these customers x days sizes.")
    ] = "20000x180,100000x365",
    feast_size: Annotated[
        str,
        typer.Option(help="Feature-store path (dbt + Feast + both models) at this size; '' skips."),
    ] = "20000x180",
    workdir: Annotated[Path, typer.Option(help="Scratch folder.")] = Path("bench/out/work"),
) -> None:
    """Model metrics next to the baselines (BG/NBD included on orders-only data and CDNOW) and
    training times; writes bench/out/models.json and the bench:models block of
    docs/benchmarks.md."""
    from dagster_project.lib.models.bench import run
    from dagster_project.lib.settings import REPO_ROOT

    def parse(size: str) -> tuple[int, int]:
        customers, days = (int(x) for x in size.lower().split("x"))
        return customers, days

    run(
        [parse(s) for s in sizes.split(",") if s],
        parse(feast_size) if feast_size else None,
        workdir.resolve(),
        REPO_ROOT / "bench/out",
        REPO_ROOT / "docs/benchmarks.md",
    )
    typer.echo("wrote bench/out/models.json and docs/benchmarks.md")


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
    from dagster_project.lib.attribution.cli import attribute_command
    from dagster_project.lib.attribution.journeys import JourneyInputError

    try:
        attribute_command(
            touches=touches,
            outcomes=outcomes,
            out=out,
            customer_features=customer_features,
            lookback_days=lookback_days,
            half_life_days=half_life_days,
            markov_orders=tuple(int(k) for k in markov_orders.split(",")),
            timezone=timezone,
            echo=typer.echo,
        )
    except JourneyInputError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
