"""Per-customer CRM models in gold, learned from the platform's own data: each customer's best
hours (gold.crm_send_times) and message tolerance (gold.crm_personal_caps). The campaign audiences
read both (defs/campaigns/assets.py): `send_time: best_in_window` files send at each customer's
best hour, and every audience caps each customer at their own cap, the channel's cap the ceiling.
The models: lib/crm/send_time.py, lib/crm/caps.py; their inputs: lib/crm/warehouse.py."""

import dagster as dg
import polars as pl

from dagster_project.defs import metadata as md
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.segments.assets import SEGMENTS_KEY
from dagster_project.defs.transform.assets import model_key
from dagster_project.lib.settings import Settings

SEND_TIMES_KEY = dg.AssetKey(["gold", "crm_send_times"])
PERSONAL_CAPS_KEY = dg.AssetKey(["gold", "crm_personal_caps"])
OWNERS = ["team:crm"]


@dg.asset(
    key=SEND_TIMES_KEY,
    description="One row per customer: their activity (sessions) by local hour of the week, "
    "shrunk towards their own hour-of-day profile and the population's by empirical Bayes "
    "(lib/crm/send_time.py): the posterior over the 168 hours (p_hour_of_week), the best hour "
    "and the prior's weight (1 for a customer without sessions). Campaign files with "
    "`send_time: {mode: best_in_window, window: [...]}` send at each customer's best hour of "
    "the window, night hours only with night-time consent.",
    deps=[model_key("int_sessions__attributed"), model_key("dim_customers")],
    group_name="gold",
    kinds={"numpy", "duckdb"},
    owners=OWNERS,
    pool="duckdb",
)
def crm_send_times(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Fit the send-time model on every customer's sessions and write its table."""
    from dagster_project.lib import charts
    from dagster_project.lib.crm import warehouse as crm

    with warehouse.connect(read_only=True) as con:
        model = crm.fit_warehouse_send_times(con, Settings.from_env().business_timezone)
    if model is None:
        reason = "no sessions in the data: no send times (best_in_window campaigns cannot plan)"
        context.log.warning(f"skipped: {reason}")
        with warehouse.connect() as con:
            con.execute(f"drop table if exists {crm.SEND_TIMES_TABLE}")
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "skipped": reason})
    table = model.table()
    with warehouse.connect() as con:
        crm.write_table(con, crm.SEND_TIMES_TABLE, table)
    hours = (
        table.group_by(hour=(pl.col("best_hour_of_week") % 24))
        .agg(customers=pl.len())
        .sort("hour")
        .with_columns(pl.format("{}:00", pl.col("hour")).alias("best hour (local)"))
        .select("best hour (local)", "customers")
    )
    title = "Customers by their best hour of the day"
    context.log.info(
        f"send times of {table.height} customers, prior strength {model.prior_strength}"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "customers_with_activity": int((table["n_activity"] > 0).sum()),
            "median_sessions": float(table["n_activity"].median()),
            "prior_strength": float(model.prior_strength),
            "median_prior_weight": float(table["prior_weight"].median()),
            "best_hours": md.table(hours),
            "best_hours_chart": md.chart(
                charts.bars(hours, "best hour (local)", "customers", title, "customers"), title
            ),
        }
    )


@dg.asset(
    key=PERSONAL_CAPS_KEY,
    description="One row per customer and CRM channel with messages on record: the customer's "
    "tolerance (messages in 7 days before their response decays and opt-outs rise), learned "
    "from each message's open (or, on a channel without opens, a visit within 48 h) and the "
    "opt-outs that followed (consent turning false), shrunk to their browsing type's "
    "(lib/crm/caps.py). max_sends is the posterior median, between 1 and the channel's cap "
    "(the ceiling); every campaign audience applies it on top of the channel's cap.",
    deps=[
        model_key("int_touches__conformed"),
        model_key("int_sessions__attributed"),
        model_key("int_customers__history"),
        model_key("dim_customers"),
        SEGMENTS_KEY,
    ],
    group_name="gold",
    kinds={"numpy", "duckdb"},
    owners=OWNERS,
    pool="duckdb",
)
def crm_personal_caps(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Fit the tolerance model per channel on the messages on record and write the caps."""
    from dagster_project.lib.crm import warehouse as crm

    with warehouse.connect(read_only=True) as con:
        messages = crm.warehouse_messages(con)
        segments = crm.warehouse_segments(con)
    table = crm.caps_table(messages, segments)
    with warehouse.connect() as con:
        crm.write_table(con, crm.CAPS_TABLE, table)
    per_channel = (
        table.group_by("channel")
        .agg(
            customers=pl.len(),
            messages=pl.col("n_messages").sum(),
            opt_outs=pl.col("n_opt_outs").sum(),
            channel_cap=pl.col("channel_cap").first(),
            mean_cap=pl.col("max_sends").mean(),
            below_channel_cap_share=(pl.col("max_sends") < pl.col("channel_cap")).mean(),
            beta=pl.col("beta").first(),
        )
        .sort("channel")
        if table.height
        else pl.DataFrame({"channel": [], "customers": []})
    )
    if not table.height:
        context.log.warning("no CRM message on record: no personal caps (channel caps apply)")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "messages": messages.height,
            "opens": int(messages["is_opened"].sum()),
            "opt_outs": int(messages["is_opt_out"].sum()),
            "channels": md.table(per_channel),
        }
    )
