"""Segments benchmark (`mopt bench segments`): segments, audiences and uplift on an existing
warehouse (e.g. the demo's), median wall time over repeats of each stage, on a private copy of
the warehouse file."""

from __future__ import annotations

import resource
import shutil
import tempfile
from pathlib import Path

from dagster_project.lib.bench.common import median_seconds, publish
from dagster_project.lib.settings import REPO_ROOT
from dagster_project.lib.warehouse import connect, markdown_table


def bench_segments(warehouse: Path, campaigns_dir: Path, repeats: int = 3) -> list[dict]:
    from dagster_project.lib.campaigns import audience, config, source
    from dagster_project.lib.segments.build import build_segments
    from dagster_project.lib.uplift import measure
    from dagster_project.lib.uplift import model as uplift_model

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        shutil.copy(warehouse, path)
        with connect(path) as con:
            customers = con.sql("select count(*) from gold.dim_customers").fetchone()[0]
            results = []

            def segments() -> int:
                tables = build_segments(con)
                con.register("seg", tables.customer_segments)
                con.execute("create or replace table gold.customer_segments as select * from seg")
                con.unregister("seg")
                return tables.customer_segments.height

            def audiences() -> int:
                campaigns = [config.load_campaign(p) for p in config.campaign_files(campaigns_dir)]
                planned = audience.plan_campaigns(
                    campaigns,
                    source.audience_source(con),
                    source.send_history(con),
                    source.next_send_date(con),
                )
                return sum(a.assignments.height for a in planned.values())

            def report() -> int:
                sends = con.sql(
                    "select campaign_id, is_treatment, is_converted, revenue_krw"
                    " from gold.fct_campaign_sends where is_window_complete"
                ).pl()
                return measure.measure_uplift(sends).height

            def uplift_models() -> int:
                rows = uplift_model.coupon_training_rows(con)
                uplift_model.evaluate_leave_one_campaign_out(rows)
                return rows.height

            for stage, fn in (
                ("segments (RFM, tiers, browsing types, preference)", segments),
                ("audiences (sample campaigns, caps, holdout)", audiences),
                ("uplift report (all campaigns)", report),
                ("coupon uplift model (leave-one-campaign-out)", uplift_models),
            ):
                seconds, rows = median_seconds(fn, repeats)
                results.append(
                    {"customers": customers, "stage": stage, "median_s": seconds, "rows": rows}
                )
                print(f"{stage}: {seconds:.2f} s ({rows:,} rows)", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for r in results:
        r["process_peak_rss_mb"] = peak
    return results


def run(warehouse: Path, repeats: int) -> list[dict]:
    """Every stage on a copy of `warehouse` with the repository's sample campaigns, then the
    report."""
    results = bench_segments(warehouse, REPO_ROOT / "campaigns", repeats)
    write_report(results, repeats)
    return results


def write_report(results: list[dict], repeats: int) -> None:
    import polars as pl

    table = pl.DataFrame(results).select(
        pl.col("customers").map_elements(lambda n: f"{n:,}", return_dtype=pl.String),
        "stage",
        pl.col("median_s").round(2).alias("median s"),
        pl.col("rows").map_elements(lambda n: f"{n:,}", return_dtype=pl.String),
        pl.col("process_peak_rss_mb").round(0).alias("process peak RSS MB"),
    )
    publish("segments", {"repeats": repeats, "results": results}, markdown_table(table))
