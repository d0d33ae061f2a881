"""Attribution over the warehouse: journeys from gold, customer features from the gold snapshots,
holdout lifts from gold.fct_campaign_sends, spend from silver, and the tables the assets write."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from dagster_project.lib.attribution import incrementality, report
from dagster_project.lib.attribution.customer_features import features_asof
from dagster_project.lib.attribution.journeys import Journeys, journeys_from_warehouse
from dagster_project.lib.warehouse import has_table

CUSTOMER_SNAPSHOTS = "gold.feat_customer__daily"


def holdout_sends(
    con: duckdb.DuckDBPyConnection, default_days: int = incrementality.DEFAULT_RESPONSE_DAYS
) -> pl.DataFrame:
    """Treatment/holdout assignments with complete response windows, each counting the orders
    within its campaign's own response window after assignment: the campaign's
    `response_window_days` where the platform planned it (gold.campaign_assignments), else
    `default_days`."""
    planned = has_table(con, "gold.campaign_assignments")
    windows = (
        "select campaign_id, max(response_window_days) as days"
        " from gold.campaign_assignments group by campaign_id"
        if planned
        else "select null::varchar as campaign_id, null::integer as days where false"
    )
    return con.sql(
        f"""
        with windows as ({windows}),
        sends as (
            select s.send_id, s.campaign_id, s.customer_id, s.channel, s.is_treatment,
                s.assigned_at, coalesce(w.days, {int(default_days)}) as response_window_days,
            from silver.int_campaign_sends__conformed as s
            left join windows as w using (campaign_id)
        ),
        data_end as (select max(day_end_at) as data_end_at from gold.dim_dates)
        select s.campaign_id, s.channel, s.is_treatment, s.response_window_days,
            count(o.order_id) as orders,
        from sends as s
        cross join data_end as d
        left join silver.int_orders__enriched as o
            on o.customer_id = s.customer_id
            and o.ordered_at > s.assigned_at
            and o.ordered_at <= s.assigned_at + to_days(s.response_window_days)
        where s.assigned_at + to_days(s.response_window_days) <= d.data_end_at
        group by s.send_id, s.campaign_id, s.channel, s.is_treatment, s.response_window_days
        order by s.send_id
        """
    ).pl()


def campaign_spend(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return con.sql(
        "select channel, campaign_id, cast(sum(spend_krw) as double) as spend_krw"
        " from gold.fct_conversion_tracking where campaign_id is not null group by all"
    ).pl()


def attribute_warehouse(
    con: duckdb.DuckDBPyConnection,
    *,
    lookback_days: float = 30.0,
    half_life_days: float = 7.0,
    markov_orders: tuple[int, ...] = (1, 2, 3),
    timezone: str = "Asia/Seoul",
    config: incrementality.IncrementalityConfig | None = None,
) -> tuple[Journeys, report.AttributionRun]:
    jr = journeys_from_warehouse(con, lookback_days)
    cfg = config or incrementality.IncrementalityConfig(timezone=timezone)

    def lookup(moments: pl.DataFrame) -> pl.DataFrame:
        return features_asof(moments, CUSTOMER_SNAPSHOTS, con)

    run = report.run_all(
        jr,
        half_life_days=half_life_days,
        markov_orders=markov_orders,
        customer_features=lookup,
        holdout_lift=incrementality.holdout_lift(holdout_sends(con), cfg.confidence),
        config=cfg,
    )
    return jr, run


def read_truth(raw_dir: Path) -> pl.DataFrame | None:
    """truth/channel_effects.parquet of a simulated world, if there is one."""
    path = Path(raw_dir) / "truth" / "channel_effects.parquet"
    return pl.read_parquet(path) if path.exists() else None


def truth_table_main() -> None:
    """python -m dagster_project.lib.attribution.warehouse WORLD_DIR [--docs]: every model on a
    simulated world's warehouse (WORLD_DIR/warehouse.duckdb, WORLD_DIR/raw/truth), the truth
    check and the credit per channel; with --docs, written into docs/attribution.md."""
    import argparse

    from dagster_project.lib.bench.common import replace_marked_block
    from dagster_project.lib.settings import REPO_ROOT
    from dagster_project.lib.warehouse import connect, markdown_table

    parser = argparse.ArgumentParser(description=truth_table_main.__doc__)
    parser.add_argument("world", type=Path)
    parser.add_argument("--docs", action="store_true")
    args = parser.parse_args()
    with connect(args.world / "warehouse.duckdb", read_only=True) as con:
        jr, run = attribute_warehouse(con)
    truth = read_truth(args.world / "raw")
    if truth is None:
        raise SystemExit(f"{args.world}/raw/truth/channel_effects.parquet not found")
    check = report.truth_check(run.credit, truth).with_columns(pl.selectors.float().round(3))
    matrix = (
        report.channel_matrix(run.credit)
        .join(
            truth.select("channel", true_incremental_orders="incremental_orders"),
            on="channel",
            how="left",
        )
        .with_columns(pl.selectors.float().round(0))
    )
    text = (
        f"{jr.journeys.height:,} journeys, {int(jr.journeys['converted'].sum()):,} conversions, "
        f"{jr.touches.height:,} touches.\n\n"
        + markdown_table(check)
        + "\n\nConversions credited per channel (scope all) and the true incremental orders:\n\n"
        + markdown_table(matrix)
    )
    print(text)
    if args.docs:
        name = f"truth-{args.world.name}"
        replace_marked_block(REPO_ROOT / "docs/attribution.md", name, text)


if __name__ == "__main__":
    truth_table_main()
