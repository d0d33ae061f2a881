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
        result = job.execute_in_process(instance=instance, asset_selection=keys)
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
    typer.echo(f"raw sample world: {settings.raw_dir}  (ground truth in truth/)")
    typer.echo("open the Dagster UI with `make ui` -> http://127.0.0.1:3000")


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
