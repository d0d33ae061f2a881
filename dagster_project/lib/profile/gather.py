"""Gathering one customer's profile: DuckDB queries on a read-only connection (the published
read copy) into Polars, and Feast online reads for what Feast serves (scores, the feature
snapshot, product candidates). What a warehouse lacks (an orders-only export has no sessions,
touches, campaigns or products; the coupon uplift model may not have passed its check) is left
missing with a note saying why; only an unknown customer id is an error."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import polars as pl

from dagster_project.lib import display
from dagster_project.lib.profile.playbook import Play, Playbook, suggest
from dagster_project.lib.settings import Settings
from dagster_project.lib.warehouse import has_table

RECENT = 10  # rows of each journey table shown
CANDIDATES_PER_LIST = 5
MONTHS = 12  # months of the spend chart
UPLIFT_TARGET_DECILE = 8  # coupon uplift deciles from which the profile suggests coupons
SCORES_SERVICE = "customer_scores_v1"
FEATURES_SERVICE = "campaign_targeting_v1"
PRODUCTS_SERVICE = "campaign_products_v1"
# Served features already shown under "who they are" (from gold.dim_customers).
IDENTITY_FEATURES = (
    "gender",
    "age_band",
    "region",
    "has_marketing_consent",
    "has_night_consent",
    "acquisition_channel",
)
PREFERENCE_COLUMNS = (
    "category_l1",
    "preference_index",
    "posterior_low",
    "posterior_high",
    "purchases",
    "views",
    "rank",
)
SCORE_FIELDS = (
    "p_buy",
    "expected_value_krw",
    "value_p10_krw",
    "value_p50_krw",
    "value_p90_krw",
    "horizon_days",
    "model_version",
    "p_buy_source",
    "value_source",
)


class UnknownCustomerError(LookupError):
    """The customer id is not in the warehouse."""


@dataclass(frozen=True)
class Scores:
    """What the models say. ``source`` says where the scores were read; the coupon uplift is
    there only while the uplift model passes its check (``uplift_note`` says why not)."""

    p_buy: float | None = None
    expected_value_krw: float | None = None
    value_p10_krw: float | None = None
    value_p50_krw: float | None = None
    value_p90_krw: float | None = None
    horizon_days: int | None = None
    model_version: str | None = None
    p_buy_source: str | None = None
    value_source: str | None = None
    source: str | None = None
    p_buy_decile: int | None = None
    grid_cell: str | None = None
    action: str | None = None
    coupon_uplift: float | None = None
    coupon_uplift_decile: int | None = None
    uplift_note: str | None = None


@dataclass
class CustomerProfile:
    customer_id: str
    as_of: date | None
    time_zone: str
    # who they are
    signed_up_date: date | None = None
    gender: str | None = None
    age_band: str | None = None
    region: str | None = None
    acquisition_channel: str | None = None
    has_marketing_consent: bool | None = None
    has_night_consent: bool | None = None
    rfm_segment: str | None = None
    rfm_cell: str | None = None
    value_tier: str | None = None
    value_code: str | None = None
    browsing_type: str | None = None
    preferences: pl.DataFrame = field(default_factory=pl.DataFrame)
    # totals over the whole history
    orders: int = 0
    revenue_krw: float = 0.0
    first_order_date: date | None = None
    last_order_date: date | None = None
    sessions: int = 0
    touches: int = 0
    # what the models and the feature store say
    features: dict[str, Any] = field(default_factory=dict)
    scores: Scores = field(default_factory=Scores)
    # the journey, newest first (RECENT rows each)
    recent_orders: pl.DataFrame = field(default_factory=pl.DataFrame)
    recent_sessions: pl.DataFrame = field(default_factory=pl.DataFrame)
    recent_touches: pl.DataFrame = field(default_factory=pl.DataFrame)
    monthly_spend: pl.DataFrame = field(default_factory=pl.DataFrame)
    campaigns: pl.DataFrame = field(default_factory=pl.DataFrame)
    candidates: pl.DataFrame = field(default_factory=pl.DataFrame)
    dips: pl.DataFrame = field(default_factory=pl.DataFrame)
    plays: list[Play] = field(default_factory=list)
    # per part of the profile: where it came from, or why it is missing
    notes: dict[str, str] = field(default_factory=dict)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pl.DataFrame:
    return con.execute(sql, params).pl()


def _customer_rows(
    con: duckdb.DuckDBPyConnection, relation: str, customer_id: str, columns: tuple[str, ...]
) -> pl.DataFrame | None:
    """The customer's rows of a table the Python assets write (its columns can differ on a
    degenerate export: an orders-only world's preference table has no index), with `columns`
    (absent ones as nulls); None if the table is not in the warehouse."""
    if not has_table(con, relation):
        return None
    schema, name = relation.split(".")
    present = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns"
            " where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    picks = ", ".join(c if c in present else f"null as {c}" for c in columns)
    return _rows(con, f"select {picks} from {relation} where customer_id = ?", [customer_id])


def _first(frame: pl.DataFrame) -> dict[str, Any]:
    return frame.row(0, named=True) if frame.height else {}


def _local(frame: pl.DataFrame, columns: list[str], time_zone: str) -> pl.DataFrame:
    """UTC timestamps as the business time zone's wall clock, to the minute, as text."""
    return frame.with_columns(
        pl.col(c)
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(time_zone)
        .dt.strftime("%Y-%m-%d %H:%M")
        for c in columns
    )


def _check_customer(con: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, Any]:
    if not has_table(con, "gold.dim_customers"):
        raise UnknownCustomerError(
            f"customer {customer_id!r}: the warehouse has no gold.dim_customers yet "
            "(materialize first: `mopt materialize`)"
        )
    row = _first(
        _rows(con, "select * from gold.dim_customers where customer_id = ?", [customer_id])
    )
    if not row:
        count, example = con.execute(
            "select count(*), min(customer_id) from gold.dim_customers"
        ).fetchone()
        raise UnknownCustomerError(
            f"customer {customer_id!r} is not in the warehouse (gold.dim_customers has "
            f"{count:,} customers{f', e.g. {example!r}' if example else ''})"
        )
    return row


def _served(
    customer_id: str, service: str, settings: Settings, store
) -> tuple[dict[str, Any] | None, str]:
    """One customer's row of a feature service from Feast's online store, or None and why."""
    from dagster_project.lib import features

    try:
        frame = features.online_features([customer_id], service, settings, store=store)
    except Exception as err:  # no registry, service not applied, store not reachable
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return None, f"Feast {service} not available ({type(err).__name__}: {reason})"
    row = {k: v for k, v in frame.row(0, named=True).items() if k != "customer_id"}
    if all(v is None for v in row.values()):
        return None, f"not in Feast's online store ({service})"
    return row, f"Feast online store ({service})"


def gather_profile(
    con: duckdb.DuckDBPyConnection,
    customer_id: str,
    playbook: Playbook,
    settings: Settings | None = None,
    *,
    feast: bool = True,
    store=None,
    recent: int = RECENT,
) -> CustomerProfile:
    """Everything the profile shows for ``customer_id``. ``con`` is a read-only connection to
    the warehouse (its read copy); with ``feast`` the served fields are read from the online
    store (``store``, else the process's shared store for ``settings``), falling back to the
    warehouse (gold.customer_scores, the newest feature snapshot, gold.product_candidates) with
    a note when Feast does not have them."""
    settings = settings or Settings.from_env()
    who = _check_customer(con, customer_id)
    tz = settings.business_timezone
    profile = CustomerProfile(customer_id, None, tz)
    for name in (
        "signed_up_date",
        "gender",
        "age_band",
        "region",
        "acquisition_channel",
        "has_marketing_consent",
        "has_night_consent",
    ):
        setattr(profile, name, who.get(name))
    if who.get("has_profile") is False:
        profile.notes["who"] = (
            "no customers record (only orders): demographics are missing and consent counts as "
            "not given"
        )
    _segments(con, profile)
    _journey(con, profile, recent)
    _scores(con, profile, settings, feast, store)
    _feature_snapshot(con, profile, settings, feast, store)
    _campaigns(con, profile)
    _candidates(con, profile, settings, feast, store)
    _dips(con, profile)
    _plays(profile, playbook)
    return profile


def _segments(con: duckdb.DuckDBPyConnection, p: CustomerProfile) -> None:
    if not has_table(con, "gold.customer_segments"):
        p.notes["segment"] = "gold.customer_segments is not built"
    else:
        seg = _first(
            _rows(
                con, "select * from gold.customer_segments where customer_id = ?", [p.customer_id]
            )
        )
        if not seg:
            p.notes["segment"] = "not in gold.customer_segments (joined after the last build)"
        for name in ("rfm_segment", "rfm_cell", "value_tier", "value_code", "browsing_type"):
            setattr(p, name, seg.get(name))
        p.as_of = seg.get("as_of_date")
    prefs = _customer_rows(
        con,
        "gold.customer_category_preference",
        p.customer_id,
        PREFERENCE_COLUMNS,
    )
    if prefs is None:
        p.notes["preferences"] = "gold.customer_category_preference is not built"
        return
    p.preferences = prefs.sort("rank", "category_l1", nulls_last=True).head(3).drop("rank")
    if not prefs.height:
        p.notes["preferences"] = "no preference index (no product categories in the data)"


def _journey(con: duckdb.DuckDBPyConnection, p: CustomerProfile, recent: int) -> None:
    needed = (
        "silver.int_orders__enriched",
        "silver.int_sessions__attributed",
        "silver.int_touches__conformed",
    )
    absent = [t for t in needed if not has_table(con, t)]
    if absent:
        p.notes["journey"] = f"{', '.join(absent)} not built"
        return
    orders = _rows(
        con,
        "select order_id, ordered_at, order_date, order_amount_krw, cast(units as bigint) as units,"
        " has_coupon, channel, campaign_id from silver.int_orders__enriched"
        " where customer_id = ? order by ordered_at desc, order_id",
        [p.customer_id],
    )
    p.orders = orders.height
    p.revenue_krw = float(orders["order_amount_krw"].sum()) if orders.height else 0.0
    p.first_order_date = orders["order_date"].min() if orders.height else None
    p.last_order_date = orders["order_date"].max() if orders.height else None
    p.recent_orders = _local(orders.head(recent).drop("order_date"), ["ordered_at"], p.time_zone)
    p.monthly_spend = _monthly(orders)
    p.sessions, p.recent_sessions = _history(
        con,
        "select session_id, started_at, device, channel, campaign_id, page_views, search_count,"
        " round(duration_seconds / 60, 1) as minutes from silver.int_sessions__attributed"
        " where customer_id = ? order by started_at desc, session_id",
        p,
        recent,
    )
    p.touches, p.recent_touches = _history(
        con,
        "select touched_at, channel, touch_type, campaign_id, creative_id"
        " from silver.int_touches__conformed where customer_id = ?"
        " order by touched_at desc, touch_id",
        p,
        recent,
    )


def _history(
    con: duckdb.DuckDBPyConnection, sql: str, p: CustomerProfile, recent: int
) -> tuple[int, pl.DataFrame]:
    """How many rows the customer has, and the newest `recent` with their (first) timestamp
    column in the business time zone."""
    rows = _rows(con, sql, [p.customer_id])
    stamp = next(c for c, t in rows.schema.items() if isinstance(t, pl.Datetime))
    return rows.height, _local(rows.head(recent), [stamp], p.time_zone)


def _monthly(orders: pl.DataFrame) -> pl.DataFrame:
    """Orders and revenue per calendar month (business dates) from the first order's month to
    the last one's, months without orders as 0; the last MONTHS months."""
    month = pl.col("order_date").dt.month_start()
    spend = orders.group_by(month=month).agg(
        orders=pl.len().cast(pl.Int64), revenue_krw=pl.col("order_amount_krw").sum()
    )
    if not spend.height:
        return spend.with_columns(pl.col("month").dt.strftime("%Y-%m"))
    months = pl.DataFrame(
        {"month": pl.date_range(spend["month"].min(), spend["month"].max(), "1mo", eager=True)}
    )
    return (
        months.join(spend, on="month", how="left")
        .fill_null(0)
        .with_columns(pl.col("month").dt.strftime("%Y-%m"))
        .tail(MONTHS)
    )


def _scores(con, p: CustomerProfile, settings: Settings, feast: bool, store) -> None:
    values, source = (
        _served(p.customer_id, SCORES_SERVICE, settings, store) if feast else (None, "")
    )
    if values is None and has_table(con, "gold.customer_scores"):
        newest = _first(
            _rows(
                con,
                "select * from gold.customer_scores where customer_id = ?"
                " order by scored_at desc limit 1",
                [p.customer_id],
            )
        )
        if newest:
            values = newest
            source = f"gold.customer_scores{f' ({source})' if source else ''}"
    fields = {k: (values or {}).get(k) for k in SCORE_FIELDS}
    bands = _customer_rows(
        con, "gold.customer_score_bands", p.customer_id, ("p_buy_decile", "grid_cell", "action")
    )
    bands = _first(bands) if bands is not None else {}
    uplift_rows = _customer_rows(
        con, "gold.coupon_uplift_scores", p.customer_id, ("uplift", "uplift_decile")
    )
    uplift, note = {}, None
    if uplift_rows is not None:
        uplift = _first(uplift_rows)
        note = None if uplift else "the customer has no coupon uplift score"
    else:
        note = (
            "withheld: the coupon uplift model has not passed its check qini_above_random "
            "(beat random targeting on held-out coupon campaigns)"
        )
        if not has_table(con, "gold.coupon_uplift_evaluation"):
            note += "; not evaluated: it needs two coupon campaigns with complete windows"
    if values is None:
        p.notes["scores"] = source or "no scores: the models have not scored this customer"
    p.scores = Scores(
        **fields,
        source=source if values is not None else None,
        p_buy_decile=bands.get("p_buy_decile"),
        grid_cell=bands.get("grid_cell"),
        action=bands.get("action"),
        coupon_uplift=uplift.get("uplift"),
        coupon_uplift_decile=uplift.get("uplift_decile"),
        uplift_note=note,
    )


def _feature_snapshot(con, p: CustomerProfile, settings: Settings, feast: bool, store) -> None:
    values, source = (
        _served(p.customer_id, FEATURES_SERVICE, settings, store) if feast else (None, "")
    )
    if values is None:
        try:
            values = _first(
                _rows(
                    con,
                    "select * exclude (customer_id) from gold.feat_customer__daily"
                    " where customer_id = ? order by event_timestamp desc limit 1",
                    [p.customer_id],
                )
            )
        except duckdb.Error as err:  # the view reads Parquet files that may have moved
            values = {}
            source = f"{source}; gold.feat_customer__daily unreadable ({type(err).__name__})"
        if values:
            source = f"gold.feat_customer__daily, newest snapshot{f' ({source})' if source else ''}"
    skipped = {*IDENTITY_FEATURES, "event_timestamp", "created_timestamp", "customer_id"}
    p.features = {k: v for k, v in (values or {}).items() if k not in skipped}
    p.notes["features"] = source if values else (source or "no feature snapshot")


def _campaigns(con: duckdb.DuckDBPyConnection, p: CustomerProfile) -> None:
    parts = []
    if has_table(con, "gold.fct_campaign_sends"):
        verdict = "u.verdict" if has_table(con, "gold.campaign_uplift") else "cast(null as varchar)"
        join = (
            "left join gold.campaign_uplift u on u.campaign_id = s.campaign_id"
            if has_table(con, "gold.campaign_uplift")
            else ""
        )
        sent = _rows(
            con,
            "select s.campaign_id, c.campaign_name, s.channel, s.assignment_group as arm,"
            " s.assigned_date as date, s.is_sent, s.is_window_complete, s.is_converted,"
            f" s.orders, s.revenue_krw, {verdict} as verdict"
            " from gold.fct_campaign_sends s"
            " left join gold.dim_campaigns c on c.campaign_id = s.campaign_id"
            f" {join} where s.customer_id = ? order by s.assigned_at desc, s.campaign_id",
            [p.customer_id],
        )
        money = pl.col("revenue_krw").map_elements(display.money, return_dtype=pl.String)
        parts.append(
            sent.with_columns(
                outcome=pl.when(~pl.col("is_window_complete"))
                .then(pl.lit("window open"))
                .when(pl.col("is_converted"))
                .then(pl.format("bought: {} order(s), {} KRW", pl.col("orders"), money))
                .otherwise(pl.lit("no order"))
            ).select(
                "campaign_id",
                "campaign_name",
                "channel",
                "arm",
                "date",
                "outcome",
                "verdict",
            )
        )
    planned = _customer_rows(
        con,
        "gold.campaign_assignments",
        p.customer_id,
        ("campaign_id", "channel", "assignment_group", "sent_at"),
    )
    if planned is not None:
        parts.append(
            planned.select(
                "campaign_id",
                pl.col("campaign_id").alias("campaign_name"),
                "channel",
                pl.col("assignment_group").alias("arm"),
                pl.col("sent_at").cast(pl.Date).alias("date"),
                outcome=pl.lit("planned"),
                verdict=pl.lit(None, pl.String),
            )
        )
    if not parts:
        p.notes["campaigns"] = "no campaign sends in the warehouse"
        return
    p.campaigns = pl.concat(parts, how="vertical_relaxed").sort("date", descending=True)


def _candidates(con, p: CustomerProfile, settings: Settings, feast: bool, store) -> None:
    values, source = (
        _served(p.customer_id, PRODUCTS_SERVICE, settings, store) if feast else (None, "")
    )
    if values is not None:
        lists = pl.DataFrame(
            {
                "list": [k.removesuffix("_product_ids") for k in values],
                "product_id": [v or [] for v in values.values()],
            },
            schema={"list": pl.String, "product_id": pl.List(pl.String)},
        )
        picks = lists.explode("product_id").drop_nulls("product_id")
        picks = picks.with_columns(rank=pl.int_range(1, pl.len() + 1).over("list"))
    elif (
        stored := _customer_rows(
            con, "gold.product_candidates", p.customer_id, ("list", "product_id", "rank")
        )
    ) is not None:
        picks = stored
        source = f"gold.product_candidates{f' ({source})' if source else ''}"
    else:
        p.notes["candidates"] = source or "no product candidates (no products in the data)"
        return
    picks = picks.filter(pl.col("rank") <= CANDIDATES_PER_LIST)
    if has_table(con, "gold.dim_products") and picks.height:
        details = _rows(
            con,
            "select product_id, category_l1, price_krw from gold.dim_products"
            " where list_contains(?, product_id)",
            [picks["product_id"].unique().to_list()],
        )
        picks = picks.join(details, on="product_id", how="left")
    p.candidates = picks.sort("list", "rank")
    p.notes["candidates"] = source if picks.height else "no product candidates for this customer"


def _dips(con: duckdb.DuckDBPyConnection, p: CustomerProfile) -> None:
    dips = _customer_rows(
        con,
        "gold.demand_dip_targets",
        p.customer_id,
        ("category_l1", "date", "dip_ratio", "target_rank"),
    )
    if dips is None:
        p.notes["dips"] = "gold.demand_dip_targets is not built"
        return
    p.dips = dips.sort("date", "category_l1")


def _plays(p: CustomerProfile, playbook: Playbook) -> None:
    """The playbook's plays for the customer's segment, tier and browsing type, then what the
    models and the forecast add (the score grid's coupon action, the coupon uplift, dips)."""
    p.plays = suggest(
        playbook,
        {
            "rfm_segment": p.rfm_segment,
            "value_tier": p.value_tier,
            "browsing_type": p.browsing_type,
        },
    )
    s = p.scores
    if s.coupon_uplift is not None:
        # The uplift model (it passed its check) tells coupon-only responders from customers
        # who buy anyway, which the p_buy x value grid cannot: its advice replaces the grid's.
        works = (s.coupon_uplift_decile or 0) >= UPLIFT_TARGET_DECILE
        grid = f" (the p_buy x value grid alone would say: {s.action})" if s.action else ""
        p.plays.append(
            Play(
                "model",
                f"uplift decile {s.coupon_uplift_decile}",
                "Coupon uplift",
                f"A coupon changes this customer's purchase probability by "
                f"{100 * s.coupon_uplift:+.1f} points (decile {s.coupon_uplift_decile} of 10): "
                + ("target with coupons" if works else "a coupon adds little here")
                + f"{grid}.",
            )
        )
    elif s.action:
        p.plays.append(
            Play("model", s.grid_cell or "", "Coupon play (p_buy x value grid)", s.action)
        )
    dips = (
        p.dips.sort("date")
        .group_by("category_l1", maintain_order=True)
        .agg(pl.col("date").first(), pl.col("dip_ratio").min(), pl.len().alias("days"))
        if p.dips.height
        else p.dips
    )
    for dip in dips.iter_rows(named=True):
        p.plays.append(
            Play(
                "forecast",
                dip["category_l1"],
                "Demand dip",
                f"{dip['category_l1']} demand is forecast to dip from {dip['date']} ({dip['days']} "
                f"day(s), down to {100 * dip['dip_ratio']:.0f} % of the usual level) and this "
                f"customer prefers it: a {dip['category_l1']} message before then.",
            )
        )
