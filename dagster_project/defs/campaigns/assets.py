"""One asset per campaign file in campaigns/ (or $MOPT_CAMPAIGNS_DIR): the campaign's audience
after consent, night-time consent, frequency cap and holdout, exported for the sending system
(treatment only) and recorded in gold.campaign_assignments (treatment and holdout)."""

import os
import re
from pathlib import Path

import dagster as dg
import polars as pl

from dagster_project.defs import metadata as md
from dagster_project.defs.crm.assets import PERSONAL_CAPS_KEY, SEND_TIMES_KEY
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.segments.assets import SEGMENTS_KEY
from dagster_project.defs.transform.assets import model_key
from dagster_project.lib.settings import REPO_ROOT, Settings


def campaigns_dir() -> Path:
    return Path(os.environ.get("MOPT_CAMPAIGNS_DIR", REPO_ROOT / "campaigns"))


def _asset_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9_]", "_", path.stem.lower())


def campaign_page(path: Path) -> tuple[str, dict]:
    """The asset's description and definition metadata: the campaign's own name, channel, rule
    and coupon as its file states them (the UI shows them before any run). A file that does not
    parse says why here, and its run fails with the same message."""
    import yaml

    from dagster_project.lib.campaigns.config import CampaignError, load_campaign

    try:
        c = load_campaign(path)
    except CampaignError as e:
        return f"Campaign file {path.name} does not parse: {e}", {"file": path.name}
    coupon = "none"
    if c.coupon:
        value = c.coupon.discount_value
        off = f"{value:g} %" if c.coupon.discount_type == "percent" else f"{value:,.0f} KRW"
        coupon = f"{off} off orders from {c.coupon.min_order_amount:,.0f} KRW"
    rule = yaml.safe_dump(c.segment, sort_keys=False, allow_unicode=True).strip()
    description = (
        f"{c.name} ({c.channel}, campaign {c.campaign_id}). Audience: the segment rule below, "
        "marketing and night-time consent, the channel's frequency cap and each customer's own "
        f"(gold/crm_personal_caps), a stable hash holdout of {c.holdout_share:.0%}; exported for "
        f"sending. Coupon: {coupon}."
    )
    if c.send_window is not None:
        description += (
            f" Sent at each customer's best hour between {c.send_window[0]:%H:%M} and "
            f"{c.send_window[1]:%H:%M} (gold/crm_send_times)."
        )
    return description, {
        "campaign_id": c.campaign_id,
        "campaign_name": c.name,
        "channel": c.channel,
        "creative_id": c.creative_id,
        "coupon": coupon,
        "holdout_share": c.holdout_share,
        "segment_rule": dg.MetadataValue.md(f"```yaml\n{rule}\n```"),
        "file": path.name,
    }


def audience_deps() -> list[dg.AssetKey]:
    """What every audience reads (source.audience_source, the send history and each
    customer's personal cap)."""
    return [
        SEGMENTS_KEY,
        model_key("dim_customers"),
        model_key("feat_customer__daily"),
        model_key("fct_campaign_sends"),
        PERSONAL_CAPS_KEY,
    ]


def campaign_asset(path: Path) -> dg.AssetsDefinition:
    key = dg.AssetKey(["campaigns", _asset_name(path)])
    description, page = campaign_page(path)

    @dg.asset(
        key=key,
        check_specs=[
            dg.AssetCheckSpec(
                "respects_consent",
                asset=key,
                blocking=True,
                description="Every assigned customer has marketing consent; every night-time "
                "send (21:00-08:00 local) goes to a customer with night-time consent.",
            ),
            dg.AssetCheckSpec(
                "holdout_share_on_target",
                asset=key,
                description="The holdout share is within 4.5 binomial standard errors of the "
                "campaign's holdout_share.",
            ),
        ],
        group_name="campaigns",
        kinds={"polars", "duckdb"},
        pool="duckdb",
        deps=[
            *audience_deps(),
            model_key("dim_dates"),
            dg.AssetKey(["gold", "product_candidates"]),  # read when the file asks for products
            SEND_TIMES_KEY,  # read when the file asks for the best time within a window
        ],
        description=description,
        metadata=page,
    )
    def _campaign(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        """Plan every campaign file in send order, keep this one's audience."""
        from dagster_project.lib.campaigns import audience, config, export, source, store
        from dagster_project.lib.crm import warehouse as crm

        # Every file is parsed: campaigns earlier in send order count against the frequency
        # cap of this one, so the result does not depend on which asset runs first.
        campaigns = [config.load_campaign(p) for p in config.campaign_files(path.parent)]
        this = config.load_campaign(path)
        settings = Settings.from_env()
        with warehouse.connect(read_only=True) as con:
            customers = source.audience_source(con)
            history = source.send_history(con)
            send_date = source.next_send_date(con)
            caps = crm.read_personal_caps(con)
            best_in_window = any(c.send_mode == "best_in_window" for c in campaigns)
            send_model = crm.read_send_time_model(con) if best_in_window else None
        planned = audience.plan_campaigns(
            campaigns, customers, history, send_date, settings.business_timezone, caps, send_model
        )
        result = planned[this.campaign_id]
        products = None
        if this.products is not None:
            with warehouse.connect(read_only=True) as con:
                products = source.campaign_products(con, result.treatment, this.products)
        folder = Path(warehouse.duckdb_path).parent / "exports" / "campaigns"
        paths = export.write_exports(result, folder, products)
        with warehouse.connect() as con:
            already_sent = store.record_assignments(con, result.assignments, [this.campaign_id])
        f = result.funnel
        context.log.info(f"{this.campaign_id}: {f}")
        if already_sent:
            context.log.warning(
                f"{this.campaign_id} was already sent: its recorded assignment stands and only "
                "later sends are added (give a new campaign a new campaign_id)"
            )
        checked = result.assignments.join(
            customers.select("customer_id", "has_marketing_consent", "has_night_consent"),
            on="customer_id",
            how="left",
        )
        no_consent = checked.filter(~pl.col("has_marketing_consent").fill_null(False)).height
        night = checked.filter(
            pl.col("is_night_send") & ~pl.col("has_night_consent").fill_null(False)
        ).height
        n = f["eligible"]
        share = f["holdout"] / n if n else this.holdout_share
        tolerance = 4.5 * (this.holdout_share * (1 - this.holdout_share) / max(n, 1)) ** 0.5
        funnel = pl.DataFrame({"step": list(f), "customers": list(f.values())})
        eligible = max(f["eligible"], 1)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.assignments.height,
                "campaign_id": this.campaign_id,
                "channel": this.channel,
                "already_sent": bool(already_sent),
                **{f"funnel/{k}": v for k, v in f.items()},
                "holdout_share_target": this.holdout_share,
                "holdout_share_actual": f["holdout"] / eligible,
                "funnel": md.table(funnel),
                "send_at_utc": str(result.assignments["sent_at"].min()),
                "send_time": this.send_mode
                if this.send_window is None
                else f"{this.send_mode} {this.send_window[0]:%H:%M}-{this.send_window[1]:%H:%M}",
                "personal_caps": _caps_note(caps, this.channel),
                "export_csv": dg.MetadataValue.path(str(paths["csv"])),
                "export_parquet": dg.MetadataValue.path(str(paths["parquet"])),
                "preview": md.table(export.export_frame(result, products).head(5)),
                "products": "none" if this.products is None else str(this.products),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="respects_consent",
                    passed=no_consent == 0 and night == 0,
                    metadata={"without_consent": no_consent, "night_without_consent": night},
                ),
                dg.AssetCheckResult(
                    check_name="holdout_share_on_target",
                    passed=abs(share - this.holdout_share) <= tolerance,
                    metadata={"holdout_share": float(share), "tolerance": float(tolerance)},
                ),
            ],
        )

    return _campaign


def _caps_note(caps: pl.DataFrame | None, channel: str) -> str:
    if caps is None:
        return "not built (gold/crm_personal_caps): the channel's cap only"
    n = caps.filter(pl.col("channel") == channel).height
    return f"{n} customers with their own cap on {channel}, under the channel's"


def is_triggered(path: Path) -> bool:
    """A file with `trigger:` (read without the full check: a broken file is a batch asset that
    says why it does not parse)."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return False
    return isinstance(raw, dict) and "trigger" in raw


TRIGGERED_KEY = dg.AssetKey(["campaigns", "triggered_sends"])


class TriggerTickConfig(dg.Config):
    """as_of: the tick's time (ISO, UTC); empty: the newest event in the warehouse."""

    as_of: str = ""


def triggered_asset() -> dg.AssetsDefinition:
    """The asset of the triggered campaigns' tick (built on load, as the dbt keys are)."""

    @dg.asset(
        key=TRIGGERED_KEY,
        check_specs=[
            dg.AssetCheckSpec(
                "respects_consent",
                asset=TRIGGERED_KEY,
                blocking=True,
                description="Every customer sent a triggered message has marketing consent, and "
                "night-time consent for a send between 21:00 and 08:00 local time.",
            ),
            dg.AssetCheckSpec(
                "no_double_trigger",
                asset=TRIGGERED_KEY,
                blocking=True,
                description="No (campaign, trigger event) is decided twice in the trigger log.",
            ),
        ],
        group_name="campaigns",
        kinds={"polars", "duckdb"},
        pool="duckdb",
        deps=[
            *audience_deps(),
            model_key("int_events__cleaned"),
            model_key("int_orders__enriched"),
            model_key("int_products__conformed"),
            model_key("int_weather__daily"),  # the weather trigger
            model_key("int_product_prices__history"),  # the price_drop trigger
        ],
    )
    def triggered_sends(
        context: dg.AssetExecutionContext, config: TriggerTickConfig, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        """One tick of every triggered campaign file (`trigger:` in campaigns/*.yml): the triggers
        due since the last tick (bookmark, abandoned cart, category views, first-purchase
        anniversary, holiday ahead) that are still valid and not yet decided, through the batch
        audience rules (segment, consent, night-time consent, frequency caps, stable holdout). Sends
        are exported per tick with the triggering product or category, recorded in
        gold.campaign_assignments, and every decision in gold.campaign_trigger_log."""
        from datetime import datetime

        from dagster_project.lib.campaigns import config as cfg
        from dagster_project.lib.campaigns import export, source, store, triggers
        from dagster_project.lib.crm import warehouse as crm

        every = [cfg.load_campaign(p) for p in cfg.campaign_files(campaigns_dir())]
        triggered = [c for c in every if c.trigger is not None]
        settings = Settings.from_env()
        with warehouse.connect(read_only=True) as con:
            # Ticks run up to the newest event seen (in production: minutes behind the clock).
            as_of = (
                datetime.fromisoformat(config.as_of).replace(tzinfo=None)
                if config.as_of
                else source.newest_event(con)
            )
            if as_of is None or not triggered:
                # An export without events (the minimal orders-only one) has nothing to tick on.
                note = "no triggered campaign files" if not triggered else "no events in the data"
                context.log.info(f"no tick: {note}")
                return dg.MaterializeResult(
                    metadata={"dagster/row_count": 0, "skipped": note},
                    check_results=[
                        dg.AssetCheckResult(check_name=name, passed=True)
                        for name in ("respects_consent", "no_double_trigger")
                    ],
                )
            since = as_of - triggers.lookback(triggered)
            data = source.trigger_data(con, since, settings.business_timezone)
            customers = source.audience_source(con)
            history = pl.concat(
                [source.send_history(con), source.planned_and_triggered_sends(con)], how="vertical"
            ).unique()
            decided = store.decided_triggers(con)
            caps = crm.read_personal_caps(con)
        ticks = triggers.run_ticks(
            triggered, data, customers, history, decided, as_of, every, personal_caps=caps
        )
        folder = Path(warehouse.duckdb_path).parent / "exports" / "triggered"
        stamp = as_of.strftime("%Y%m%dT%H%M%S")
        rows, added, funnels, paths = 0, 0, [], {}
        with warehouse.connect() as con:
            for cid, tick in ticks.items():
                frame = export.export_frame(tick.audience, tick.export_products())
                if frame.height:
                    folder.mkdir(parents=True, exist_ok=True)
                    paths[cid] = folder / f"{cid}_{stamp}.csv"
                    frame.write_csv(paths[cid])
                if tick.audience.assignments.height:
                    store.record_assignments(con, tick.audience.assignments, [cid], now=as_of)
                added += store.record_triggers(con, tick.log)
                rows += tick.audience.assignments.height
                funnels.append({"campaign_id": cid, **tick.funnel})
            doubles = (
                con.sql(
                    "select count(*) - count(distinct (campaign_id, trigger_key))"
                    f" from {store.TRIGGER_TABLE}"
                ).fetchone()[0]
                if ticks
                else 0
            )
        sent = pl.concat(
            [t.audience.treatment.select("customer_id", "is_night_send") for t in ticks.values()]
            or [pl.DataFrame(schema={"customer_id": pl.String, "is_night_send": pl.Boolean})]
        ).join(
            customers.select("customer_id", "has_marketing_consent", "has_night_consent"),
            on="customer_id",
            how="left",
        )
        no_consent = sent.filter(~pl.col("has_marketing_consent").fill_null(False)).height
        night = sent.filter(pl.col("is_night_send") & ~pl.col("has_night_consent").fill_null(False))
        context.log.info(f"tick at {as_of}: {funnels}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "as_of": str(as_of),
                "campaigns": len(ticks),
                "log_rows_added": added,
                "sent": sent.height,
                "funnel": md.table(pl.DataFrame(funnels)) if funnels else "no triggered campaigns",
                "exports": ", ".join(str(p) for p in paths.values()) or "none",
                "personal_caps": "applied" if caps is not None else "not built",
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="respects_consent",
                    passed=no_consent == 0 and night.height == 0,
                    metadata={"without_consent": no_consent, "night_without_consent": night.height},
                ),
                dg.AssetCheckResult(
                    check_name="no_double_trigger",
                    passed=doubles == 0,
                    metadata={"duplicated_decisions": int(doubles)},
                ),
            ],
        )

    return triggered_sends


@dg.definitions
def campaign_defs() -> dg.Definitions:
    from dagster_project.lib.campaigns.config import campaign_files

    files = campaign_files(campaigns_dir())
    batch = [campaign_asset(p) for p in files if not is_triggered(p)]
    return dg.Definitions(assets=[*batch, triggered_asset()])
