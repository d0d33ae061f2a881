"""Segment tables in gold: one row per customer (RFM segment, value tier, browsing type, top
category), the category preference index and the cohort x category behaviour patterns."""

import dagster as dg
import polars as pl

from dagster_project.defs import metadata as md
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.transform.assets import model_key

SEGMENTS_KEY = dg.AssetKey(["gold", "customer_segments"])
PREFERENCE_KEY = dg.AssetKey(["gold", "customer_category_preference"])
PATTERNS_KEY = dg.AssetKey(["gold", "segment_behaviour_patterns"])
UPSTREAM = (
    "dim_customers",
    "dim_dates",
    "int_orders__enriched",
    "int_order_lines__joined",
    "int_sessions__attributed",
    "int_events__cleaned",
    "int_products__conformed",
)


def _write(con, name: str, frame: pl.DataFrame) -> None:
    con.register("frame", frame)
    con.execute(f"create or replace table gold.{name} as select * from frame")
    con.unregister("frame")


def _share_entries(name: str, counts: pl.DataFrame, what: str) -> dict[str, dg.MetadataValue]:
    """A segment-size table and its chart."""
    from dagster_project.lib import charts

    label = counts.columns[0]
    title = f"Customers per {what}"
    png = charts.bars(counts, label, "customers", title, "customers")
    return {name: md.table(counts), f"{name}_chart": md.chart(png, title)}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SEGMENTS_KEY,
            description="One row per customer: RFM scores and the ten named segments, the "
            "'333' value tier, browsing type (k-means over browsing behaviour) and top category.",
            deps=[model_key(m) for m in UPSTREAM],
            group_name="gold",
            kinds={"polars", "duckdb"},
        ),
        dg.AssetSpec(
            PREFERENCE_KEY,
            description="One row per customer and category: the category preference index "
            "(0-100). Default (bayes): the posterior mean share in percent, with a 90 % credible "
            "interval, from a Dirichlet prior of the customer's age band x gender cell updated by "
            "their purchases and views; or the seed method (segments.yml preference.method).",
            deps=[model_key(m) for m in UPSTREAM],
            group_name="gold",
            kinds={"polars", "duckdb"},
        ),
        dg.AssetSpec(
            PATTERNS_KEY,
            description="One row per cohort (age band x gender) and category: searches, page "
            "views and minutes per session against the overall mean, as a pattern, and the "
            "dominant browsing type.",
            deps=[model_key(m) for m in UPSTREAM],
            group_name="gold",
            kinds={"polars", "duckdb"},
        ),
    ],
    pool="duckdb",
)
def segment_tables(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Build every segment table from the warehouse (thresholds: segments.yml or defaults)."""
    from dagster_project.lib.segments import behaviour, rfm
    from dagster_project.lib.segments.build import build_segments
    from dagster_project.lib.segments.config import load_segment_config
    from dagster_project.lib.segments.report import shares

    cfg = load_segment_config()  # $MOPT_SEGMENTS_CONFIG, segments.yml or the defaults
    with warehouse.connect(read_only=True) as con:
        tables = build_segments(con, cfg)
    with warehouse.connect() as con:
        _write(con, "customer_segments", tables.customer_segments)
        _write(con, "customer_category_preference", tables.category_preference)
        _write(con, "segment_behaviour_patterns", tables.behaviour_patterns)
    for note in tables.notes:
        context.log.warning(note)
    seg = tables.customer_segments
    buyers = seg.filter(pl.col("orders") > 0)
    typed = seg.filter(pl.col("browsing_type") != behaviour.UNKNOWN)
    yield dg.MaterializeResult(
        asset_key=SEGMENTS_KEY,
        metadata={
            "dagster/row_count": seg.height,
            "as_of_date": str(tables.as_of),
            "buyers": buyers.height,
            "typed_customers": typed.height,
            **_share_entries(
                "rfm_segments",
                shares(seg, "rfm_segment", [*rfm.SEGMENT_ORDER, cfg.rfm.no_purchase_segment]),
                "RFM segment",
            ),
            **_share_entries(
                "value_tiers", shares(seg, "value_tier", list(rfm.VALUE_TIERS)), "value tier"
            ),
            **_share_entries(
                "browsing_types",
                shares(seg, "browsing_type", [*behaviour.BROWSING_TYPES, behaviour.UNKNOWN]),
                "browsing type",
            ),
            **{
                f"share/{tier}": float((seg["value_tier"] == tier).mean())
                for tier in rfm.VALUE_TIERS
            },
            "notes": "; ".join(tables.notes) or "none",
        },
    )
    pref = tables.category_preference
    yield dg.MaterializeResult(
        asset_key=PREFERENCE_KEY,
        metadata={
            "dagster/row_count": pref.height,
            "method": cfg.preference.method,
            **_share_entries(
                "top_categories",
                shares(seg.drop_nulls("top_category"), "top_category"),
                "top category",
            ),
        },
    )
    pat = tables.behaviour_patterns
    yield dg.MaterializeResult(
        asset_key=PATTERNS_KEY,
        metadata={
            "dagster/row_count": pat.height,
            "patterns": md.table(
                pat.group_by("pattern")
                .agg(cohort_categories=pl.len(), sessions=pl.col("sessions").sum())
                .sort("sessions", descending=True)
            )
            if pat.height and "pattern" in pat.columns
            else "no sessions",
        },
    )


@dg.asset(
    key=["gold", "customer_score_bands"],
    group_name="gold",
    kinds={"polars", "duckdb"},
    pool="duckdb",
    deps=[dg.AssetKey(["gold", "customer_scores"])],
)
def customer_score_bands(warehouse: Warehouse) -> dg.MaterializeResult:
    """One row per customer: purchase-probability decile and the purchase-probability x
    expected-value grid cell with its coupon action, from the newest scores."""
    from dagster_project.lib.segments import bands

    with warehouse.connect(read_only=True) as con:
        scores = con.sql(
            "select customer_id, p_buy, expected_value_krw from gold.customer_scores"
            " qualify row_number() over (partition by customer_id order by scored_at desc) = 1"
        ).pl()
    grid = bands.value_grid(bands.probability_deciles(scores))
    with warehouse.connect() as con:
        _write(con, "customer_score_bands", grid)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": grid.height,
            "deciles": md.table(bands.band_summary(grid), digits={"mean_p_buy": 4}),
            "grid": md.table(bands.grid_summary(grid)),
        }
    )
