"""Journeys for attribution: the ordered touches of each journey and one row per journey with its
outcome, in the compact form every model reads (channels as small integer codes, touches sorted by
journey and position).

Two sources give the same shape:

- `journeys_from_touches(touches, outcomes)`: a tracking export (`mopt attribute`): touches one
  row per touch (journey_id, touched_at, channel, optional campaign_id / touch_type /
  funnel_stage), outcomes one row per journey (journey_id, converted, revenue, optional customer_id
  and as_of). Touches after the journey's as-of time or older than the look-back window are left
  out, and counted.
- `journeys_from_warehouse(con)`: gold.fct_touchpoint_journeys (dbt already applied the window),
  with the funnel stage of every touch from the sessions' events.

Organic versus marketing: marketing is what the team does to a customer (impressions, sends);
what the customer does on their own intent is organic. Touches of an organic channel
(`ORGANIC_CHANNELS`: direct or untagged visits) are never a marketing channel: they are kept
apart in `Journeys.organic` (no model credits them; a journey with organic touches only is the
baseline's) and serve the incrementality model as a covariate that says the customer is already
shopping, together with the marketing channels' visits, clicks and opens.

Scope: a converting journey is a first purchase when the customer had no earlier conversion; a
non-converting journey is "first" when the customer had not bought before its end. Without
customer ids the scope is unknown (null) and only "all" is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

BASELINE = "(baseline)"
SCOPES = ("all", "first", "repeat")
# Funnel stages of the funnel-aware Markov model, in order; "exposed" = no visit yet in the
# journey (an impression or a message before any session). Purchase is the absorbing state.
FUNNEL_STAGES = ("exposed", "visit", "product_view", "cart")
EXPOSURE_TYPES = ("impression", "send")
# Channel names that mean "no campaign": the customer came on their own (compared lower-case).
ORGANIC_CHANNELS = ("direct", "organic", "untagged", "none", "(direct)", "(none)", "(not set)")


ORGANIC_SCHEMA = {"j": pl.UInt32, "customer_id": pl.Utf8, "touched_at": pl.Datetime("us", "UTC")}


def is_organic_channel(channel: pl.Expr) -> pl.Expr:
    return channel.str.to_lowercase().is_in(list(ORGANIC_CHANNELS))


class JourneyInputError(ValueError):
    """Bad attribution input: names the file, the row and the rule."""


@dataclass
class Journeys:
    """touches: j, position, channel, ch (code), campaign_id, touch_type, days_before,
    funnel_stage (code or null), sorted by (j, position): marketing channels only. journeys: j,
    journey_id, customer_id, converted, revenue, scope, as_of, n_touches (marketing touches),
    sorted by j (j = row index). organic: the customer's own visits (j or null, customer_id,
    touched_at): organic-channel touches of the journeys, and for the warehouse the untagged
    sessions."""

    touches: pl.DataFrame
    journeys: pl.DataFrame
    channels: tuple[str, ...]
    dropped: dict[str, int] = field(default_factory=dict)
    organic: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ORGANIC_SCHEMA))
    # Touches are kept this many days before each journey's end: the span the data covers.
    lookback_days: float = 30.0

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    def scoped(self, scope: str) -> Journeys:
        """The journeys of one scope (all, first, repeat), re-indexed."""
        if scope == "all":
            return self
        keep = self.journeys.filter(pl.col("scope") == scope)
        remap = keep.select(old=pl.col("j"), new=pl.int_range(pl.len(), dtype=pl.UInt32))
        touches = (
            self.touches.join(remap, left_on="j", right_on="old", how="inner")
            .with_columns(j=pl.col("new"))
            .drop("new")
            .sort("j", "position")
        )
        journeys = keep.with_columns(j=pl.int_range(pl.len(), dtype=pl.UInt32))
        return Journeys(
            touches, journeys, self.channels, dict(self.dropped), self.organic, self.lookback_days
        )

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Touches' journey index and channel code, as numpy (sorted by journey, position)."""
        return (
            self.touches["j"].to_numpy().astype(np.int64),
            self.touches["ch"].to_numpy().astype(np.int64),
        )


def read_table(path: str | Path) -> pl.DataFrame:
    """A CSV or Parquet file (by extension) as a Polars frame."""
    path = Path(path)
    if not path.exists():
        raise JourneyInputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise JourneyInputError(f"{path}: expected a .csv or .parquet file")
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        # Types from the whole file: a value that breaks them is a row error, not a crash.
        return pl.read_csv(path, infer_schema_length=None, try_parse_dates=True)
    except pl.exceptions.NoDataError as err:
        raise JourneyInputError(f"{path}: the file is empty") from err
    except (pl.exceptions.PolarsError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise JourneyInputError(f"{path}: cannot be read: {first}") from err


def _require(frame: pl.DataFrame, name: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise JourneyInputError(f"{name}: missing required column(s) {', '.join(missing)}")


def _first_bad_row(frame: pl.DataFrame, bad: pl.Expr) -> int | None:
    """1-based data row number of the first row where `bad` holds (header not counted)."""
    hit = frame.with_row_index("__row").filter(bad).select("__row").head(1)
    return None if hit.is_empty() else int(hit.item()) + 1


def _check(frame: pl.DataFrame, name: str, bad: pl.Expr, rule: str) -> None:
    row = _first_bad_row(frame, bad)
    if row is not None:
        count = frame.select(bad.sum()).item()
        raise JourneyInputError(f"{name}: row {row}: {rule} ({count} row(s) break it)")


def _to_utc(col: str, frame: pl.DataFrame, name: str) -> pl.Expr:
    dtype = frame.schema[col]
    if isinstance(dtype, pl.Datetime):
        expr = pl.col(col)
        return (
            expr.dt.replace_time_zone("UTC")
            if dtype.time_zone is None
            else expr.dt.convert_time_zone("UTC")
        )
    if dtype == pl.Date:
        return pl.col(col).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if dtype == pl.Utf8:
        return pl.col(col).str.to_datetime(time_zone="UTC", strict=False)
    raise JourneyInputError(f"{name}: column {col} is {dtype}, expected a timestamp")


def journeys_from_touches(
    touches: pl.DataFrame,
    outcomes: pl.DataFrame,
    lookback_days: float = 30.0,
    touches_name: str = "touches",
    outcomes_name: str = "outcomes",
) -> Journeys:
    """Validate a tracking export and build journeys (see the module docstring)."""
    _require(touches, touches_name, ["journey_id", "touched_at", "channel"])
    _require(outcomes, outcomes_name, ["journey_id", "converted", "revenue"])
    t = touches.with_columns(
        journey_id=pl.col("journey_id").cast(pl.Utf8),
        # 'search_ads ' (a trailing space from a spreadsheet) is search_ads, not a new channel.
        channel=pl.col("channel").cast(pl.Utf8).str.strip_chars(),
        touched_at=_to_utc("touched_at", touches, touches_name),
    )
    for col, rule in (
        ("journey_id", "journey_id must not be empty"),
        ("touched_at", "touched_at must be a timestamp"),
        ("channel", "channel must not be empty"),
    ):
        _check(t, touches_name, pl.col(col).is_null() | (pl.col(col).cast(pl.Utf8) == ""), rule)
    o = outcomes.with_columns(journey_id=pl.col("journey_id").cast(pl.Utf8))
    _check(o, outcomes_name, pl.col("journey_id").is_null(), "journey_id must not be empty")
    _check(o, outcomes_name, pl.col("journey_id").is_duplicated(), "journey_id must be unique")
    conv = pl.col("converted")
    if o.schema["converted"] != pl.Boolean:
        text = conv.cast(pl.Utf8).str.to_lowercase()
        o = o.with_columns(
            converted=pl.when(text.is_in(["1", "true", "t", "yes"]))
            .then(True)
            .when(text.is_in(["0", "false", "f", "no"]))
            .then(False)
        )
    _check(o, outcomes_name, conv.is_null(), "converted must be true/false or 1/0")
    revenue = pl.col("revenue").cast(pl.Float64, strict=False)
    _check(
        o,
        outcomes_name,
        pl.col("revenue").is_not_null() & revenue.is_null(),
        "revenue must be a number",
    )
    _check(o, outcomes_name, ~revenue.is_finite(), "revenue must be a finite number")
    o = o.with_columns(revenue=revenue.fill_null(0.0))
    _check(o, outcomes_name, pl.col("revenue") < 0, "revenue must not be negative")
    _check(
        o,
        outcomes_name,
        ~conv & (pl.col("revenue") > 0),
        "a journey that did not convert has no revenue",
    )
    unknown = t.join(o.select("journey_id"), on="journey_id", how="anti")
    if unknown.height:
        bad = pl.col("journey_id").is_in(unknown["journey_id"].unique().implode())
        _check(t, touches_name, bad, "journey_id must appear in the outcomes")
    has_as_of = "as_of" in o.columns
    if has_as_of:
        o = o.with_columns(as_of=_to_utc("as_of", o, outcomes_name))
        _check(o, outcomes_name, pl.col("as_of").is_null(), "as_of must be a timestamp")
    else:
        last = t.group_by("journey_id").agg(as_of=pl.col("touched_at").max())
        o = o.join(last, on="journey_id", how="left")
    customer = pl.col("customer_id").cast(pl.Utf8) if "customer_id" in o.columns else pl.lit(None)
    o = o.with_columns(customer_id=customer.cast(pl.Utf8))
    if "campaign_id" not in t.columns:
        t = t.with_columns(campaign_id=pl.lit(None, pl.Utf8))
    if "touch_type" not in t.columns:
        t = t.with_columns(touch_type=pl.lit(None, pl.Utf8))
    stage_expr = pl.lit(None, pl.Int8)
    if "funnel_stage" in t.columns:
        codes = (
            pl.col("funnel_stage")
            .cast(pl.Utf8)
            .replace_strict(
                {s: i for i, s in enumerate(FUNNEL_STAGES)}, default=None, return_dtype=pl.Int8
            )
        )
        _check(
            t,
            touches_name,
            pl.col("funnel_stage").is_not_null() & codes.is_null(),
            f"funnel_stage must be one of {', '.join(FUNNEL_STAGES)}",
        )
        stage_expr = codes
    t = t.with_columns(funnel_stage=stage_expr)

    # Window: touches at or before the journey's as-of time and within the look-back before it.
    t = t.join(o.select("journey_id", "as_of"), on="journey_id", how="left").with_columns(
        days_before=_days_before()
    )
    after = t.filter(pl.col("days_before") < 0).height
    too_old = t.filter(pl.col("days_before") > lookback_days).height
    t = t.filter(pl.col("days_before").is_between(0, lookback_days))
    organic = is_organic_channel(pl.col("channel"))
    o = _with_scope(o)
    return _assemble(
        t.filter(~organic).select(*_TOUCH_COLUMNS),
        o.select("journey_id", "customer_id", "converted", "revenue", "scope", "as_of"),
        dropped={"touches_after_as_of": after, "touches_before_lookback": too_old},
        organic=t.filter(organic)
        .join(o.select("journey_id", "customer_id"), on="journey_id", how="left")
        .select("journey_id", "customer_id", "touched_at"),
        lookback_days=lookback_days,
    )


def _with_scope(o: pl.DataFrame) -> pl.DataFrame:
    """first / repeat from the customer's earlier conversions (null without customer ids)."""
    if o["customer_id"].null_count() == o.height:
        return o.with_columns(scope=pl.lit(None, pl.Utf8))
    ranked = o.sort("customer_id", "as_of", "journey_id").with_columns(
        earlier=(pl.col("converted").cast(pl.Int32).cum_sum() - pl.col("converted").cast(pl.Int32))
        .over("customer_id")
        .fill_null(0)
    )
    return ranked.with_columns(
        scope=pl.when(pl.col("customer_id").is_null())
        .then(None)
        .when(pl.col("earlier") == 0)
        .then(pl.lit("first"))
        .otherwise(pl.lit("repeat"))
    ).drop("earlier")


# What _assemble needs of each touch, from an export or from the warehouse.
_TOUCH_COLUMNS = (
    "journey_id",
    "touched_at",
    "channel",
    "campaign_id",
    "touch_type",
    "funnel_stage",
    "days_before",
)


def _days_before() -> pl.Expr:
    """Days from the touch to its journey's end (as_of), fractional."""
    return (pl.col("as_of") - pl.col("touched_at")).dt.total_microseconds() / 86_400e6


def _assemble(
    t: pl.DataFrame,
    o: pl.DataFrame,
    dropped: dict[str, int],
    organic: pl.DataFrame,
    lookback_days: float,
) -> Journeys:
    """Index journeys (sorted by id) and channels (sorted by name), order touches; timestamps
    become UTC-aware (the warehouse's are naive UTC). `organic`: journey_id (or null),
    customer_id, touched_at of the customers' own visits."""

    def utc(frame: pl.DataFrame, col: str) -> pl.Expr:
        dtype = frame.schema[col]
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            return pl.col(col).dt.replace_time_zone("UTC")
        return pl.col(col).dt.convert_time_zone("UTC")

    t = t.with_columns(touched_at=utc(t, "touched_at"))
    o = o.with_columns(as_of=utc(o, "as_of"))
    o = o.sort("journey_id").with_columns(j=pl.int_range(pl.len(), dtype=pl.UInt32))
    organic = (
        organic.with_columns(touched_at=utc(organic, "touched_at"))
        .join(o.select("journey_id", "j"), on="journey_id", how="left")
        .select(list(ORGANIC_SCHEMA))
        .cast(ORGANIC_SCHEMA)
        .sort("customer_id", "touched_at", "j", nulls_last=True)
    )
    channels = tuple(sorted(t["channel"].unique().to_list()))
    code = {c: i for i, c in enumerate(channels)}
    touches = (
        t.join(o.select("journey_id", "j"), on="journey_id", how="inner")
        .sort("j", "touched_at", "channel", "campaign_id", nulls_last=True)
        .with_columns(
            ch=pl.col("channel").replace_strict(code, return_dtype=pl.Int16),
            position=pl.int_range(pl.len(), dtype=pl.Int32).over("j") + 1,
        )
        .select(
            "j",
            "position",
            "channel",
            "ch",
            "campaign_id",
            "touch_type",
            "days_before",
            "funnel_stage",
            "touched_at",
        )
    )
    counts = touches.group_by("j").agg(n_touches=pl.len())
    journeys = (
        o.join(counts, on="j", how="left")
        .with_columns(pl.col("n_touches").fill_null(0).cast(pl.Int32))
        .select(
            "j", "journey_id", "customer_id", "converted", "revenue", "scope", "as_of", "n_touches"
        )
    )
    return Journeys(touches, journeys, channels, dropped, organic, lookback_days)


# The touches of gold.fct_touchpoint_journeys with each touch's funnel stage: for a visit, the
# deepest step of its session (visit < product view < cart); for every touch, the deepest stage
# reached so far in the journey ("exposed" before any visit).
_WAREHOUSE_TOUCHES = """
with session_stage as (
    select
        session_id,
        max(case event_type when 'view' then 2 when 'add_to_cart' then 3
            when 'purchase' then 3 else 1 end) as stage,
    from silver.int_events__cleaned
    group by session_id
),
touches as (
    select
        journey_id,
        touch_number,
        touched_at,
        channel,
        campaign_id,
        touch_type,
        case when touch_type = 'visit' then substr(touch_id, 7) end as session_id,
    from gold.fct_touchpoint_journeys
    where not is_conversion
)
select
    t.journey_id,
    t.touch_number,
    t.touched_at,
    t.channel,
    t.campaign_id,
    t.touch_type,
    cast(case when t.touch_type = 'visit' then coalesce(s.stage, 1) else 0 end as tinyint)
        as own_stage,
from touches as t
left join session_stage as s using (session_id)
"""

# One row per journey: outcome, the as-of time (the order, or the journey's last touch) and the
# scope (was the customer's first purchase still to come?).
_WAREHOUSE_JOURNEYS = """
with rows as (
    select * from gold.fct_touchpoint_journeys
),
journeys as (
    select
        journey_id,
        any_value(customer_id) as customer_id,
        bool_or(is_converted) as converted,
        coalesce(max(revenue_krw), 0) as revenue,
        max(touched_at) as as_of,
        any_value(journey_status) as journey_status,
        any_value(is_first_purchase) as is_first_purchase,
        any_value(case when journey_status = 'lapsed' then split_part(journey_id, '|', 2) end)
            as next_order_id,
    from rows
    group by journey_id
),
customer_orders as (
    select customer_id, count(*) as orders from silver.int_orders__enriched group by customer_id
)
select
    j.journey_id,
    j.customer_id,
    j.converted,
    cast(j.revenue as double) as revenue,
    case
        when j.converted then case when j.is_first_purchase then 'first' else 'repeat' end
        when j.journey_status = 'lapsed'
            then case when o.is_first_order then 'first' else 'repeat' end
        when coalesce(c.orders, 0) = 0 then 'first'
        else 'repeat'
    end as scope,
    j.as_of,
from journeys as j
left join silver.int_orders__enriched as o on o.order_id = j.next_order_id
left join customer_orders as c on c.customer_id = j.customer_id
"""


# The customers' untagged sessions: organic visits (no campaign brought them).
_WAREHOUSE_ORGANIC = """
select cast(null as varchar) as journey_id, customer_id, started_at as touched_at,
from silver.int_sessions__attributed
where not has_utm
"""


def journeys_from_warehouse(
    con: duckdb.DuckDBPyConnection, lookback_days: float = 30.0
) -> Journeys:
    """Journeys from gold.fct_touchpoint_journeys. dbt already split them and windowed the
    converting ones; the same look-back is applied here to the non-converting ones (before their
    last touch), so an open journey of months of impressions is as long as a converting one.
    The untagged sessions of silver.int_sessions__attributed are the organic visits."""
    touches = con.sql(_WAREHOUSE_TOUCHES).pl()
    journeys = con.sql(_WAREHOUSE_JOURNEYS).pl()
    touches = (
        touches.sort("journey_id", "touch_number")
        .join(journeys.select("journey_id", "as_of"), on="journey_id", maintain_order="left")
        .with_columns(
            days_before=_days_before(),
            funnel_stage=pl.col("own_stage").cum_max().over("journey_id"),
        )
    )
    too_old = touches.filter(pl.col("days_before") > lookback_days).height
    return _assemble(
        touches.filter(pl.col("days_before") <= lookback_days).select(*_TOUCH_COLUMNS),
        journeys,
        dropped={"touches_before_lookback": too_old},
        organic=con.sql(_WAREHOUSE_ORGANIC).pl(),
        lookback_days=lookback_days,
    )
