"""`mopt attribute`: every model on a tracking export (touches + outcomes), credit tables out."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dagster_project.lib.attribution import report
from dagster_project.lib.attribution.customer_features import features_asof
from dagster_project.lib.attribution.incrementality import IncrementalityConfig
from dagster_project.lib.attribution.journeys import journeys_from_touches, read_table
from dagster_project.lib.warehouse import markdown_table


def attribute_command(
    touches: Path,
    outcomes: Path,
    out: Path,
    customer_features: Path | None = None,
    lookback_days: float = 30.0,
    half_life_days: float = 7.0,
    markov_orders: tuple[int, ...] = (1, 2, 3),
    timezone: str = "UTC",
    echo=print,
) -> report.AttributionRun:
    from tqdm import tqdm

    steps = tqdm(total=4, desc="attribute", unit="step")
    steps.set_postfix_str("reading")
    jr = journeys_from_touches(
        read_table(touches),
        read_table(outcomes),
        lookback_days=lookback_days,
        touches_name=str(touches),
        outcomes_name=str(outcomes),
    )
    steps.update()
    lookup = None
    if customer_features is not None:
        if jr.journeys["customer_id"].null_count() == jr.journeys.height:
            raise ValueError(
                f"{customer_features}: customer features need customer_id in {outcomes}"
            )

        def lookup(moments: pl.DataFrame) -> pl.DataFrame:
            return features_asof(moments, customer_features)

    def progress(message: str) -> None:
        steps.set_postfix_str(message)

    run = report.run_all(
        jr,
        half_life_days=half_life_days,
        markov_orders=markov_orders,
        customer_features=lookup,
        config=IncrementalityConfig(timezone=timezone),
        progress=progress,
    )
    steps.update(2)
    out.mkdir(parents=True, exist_ok=True)
    run.credit.write_parquet(out / "credit.parquet")
    run.credit.write_csv(out / "credit.csv")
    channels = report.channel_matrix(run.credit)
    channels.write_csv(out / "credit_by_channel.csv")
    if not run.removal_effects.is_empty():
        run.removal_effects.write_csv(out / "removal_effects.csv")
    summary = [
        "# Attribution",
        "",
        f"{jr.journeys.height:,} journeys ({jr.journeys['converted'].sum():,} converted), "
        f"{jr.touches.height:,} touches, channels: {', '.join(jr.channels)}.",
        f"Left out: {jr.dropped}.",
        "",
        "## Conversions credited per channel (all journeys)",
        "",
        markdown_table(channels.with_columns(pl.exclude("channel").round(1))),
    ]
    if run.incrementality is not None:
        summary += [
            "",
            f"Incrementality model: AUC {run.incrementality.auc:.3f} on held-out customers "
            f"(trained on {run.incrementality.training_rows:,} moments). Organic visits "
            f"({jr.organic.height:,} touches of direct/untagged channels) are not a channel: "
            "they tell the model the customer was already shopping.",
        ]
    summary += [f"- {n}" for n in run.notes]
    (out / "summary.md").write_text("\n".join(summary) + "\n")
    steps.update()
    steps.close()
    echo("\n".join(summary[6:]))
    echo(f"wrote {out}/credit.parquet, credit.csv, credit_by_channel.csv, summary.md")
    return run
