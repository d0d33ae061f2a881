"""Assemble the simulated world into the raw contract tables and the truth tables."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

from dagster_project.lib.contract import tables as contract_tables

from ._rng import Streams
from .assortment import (
    PRICE_WEIGHT,
    Assortment,
    assortment_truth,
    build_assortment,
    category_median,
)
from .calendar import Calendar, build_calendar, calendar_truth, weather_table
from .engine import (
    EPISODE_VISITS,
    LoopBlock,
    LoopResult,
    curve_scenario,
    hazard,
    iter_days,
    order_lines,
    world_scenarios,
)
from .entities import (
    COUPON_KINDS,
    Campaigns,
    Catalogue,
    Customers,
    Sellers,
    build_campaigns,
    build_catalogue,
    build_customers,
    build_sellers,
    coupon_response,
)
from .intent import TRIGGER_SCHEMA, trigger_events, trigger_probabilities
from .messaging import activity_hours
from .messaging import build_truth as build_messaging_truth
from .messaging import truth_tables as messaging_truth_tables
from .params import (
    ARCH,
    ARCHETYPES,
    CAT_NAMES,
    CATEGORIES,
    CHANNELS,
    CLICK_PROB,
    COST_MODEL,
    CURVE_SCALES,
    DECAY_DAYS,
    DEVICES,
    DOW_INDEX,
    EPISODE_BUY_MULT,
    EPISODE_START,
    EPISODE_STAY,
    EPISODE_VISIT_MULT,
    FAMILY_HOLIDAY_MULT,
    HILL_HALF,
    HILL_SHAPE,
    HOLIDAY_MULT,
    HOUR_WEIGHTS,
    OPEN_PROB,
    PAID_CHANNELS,
    RAIN_MM,
    RAIN_MULT,
    REGION_NAMES,
    SEARCH_AFTER_VISIT,
    SEARCH_EPISODE_MULT,
    SPEND_ADSTOCK,
    STYLES,
    UNIT_COST,
    UTM,
    WorldConfig,
)
from .prices import drop_truth, plant_price_drops, price_history
from .spend import WEEK_DAYS, hill, reference_daily_spend, world_daily_spend

SIMULATOR_VERSION = 1
US = 1_000_000
COUPON_USE_PROB = 0.85  # a treated buyer in the window whose basket qualifies uses the coupon
DTYPES = {
    "varchar": pl.Utf8,
    "timestamp": pl.Datetime("us", "UTC"),
    "date": pl.Date,
    "bigint": pl.Int64,
    "double": pl.Float64,
    "boolean": pl.Boolean,
}


@dataclass
class World:
    config: WorldConfig
    tables: dict[str, pl.DataFrame]
    truth: dict[str, pl.DataFrame]
    manifest: dict = field(default_factory=dict)
    # Further files of a contract table, by path without suffix ("customers/profile_changes"):
    # what a later export adds (ingestion reads every file in a <table>/ folder).
    later_files: dict[str, pl.DataFrame] = field(default_factory=dict)


def contract_schema(table: str) -> dict[str, pl.DataType]:
    return {c.name: DTYPES[c.data_type] for c in contract_tables()[table].columns}


@dataclass
class Entities:
    """The world's cast and calendar, drawn once from the seed (before the day loop)."""

    st: Streams
    cal: Calendar
    cust: Customers
    sellers: Sellers
    cat: Catalogue
    camps: Campaigns
    assortment: Assortment  # style, price-band and seller preferences, complements, risers
    daily_spend: np.ndarray  # (paid channels, days) the world's flighted budget, KRW a day


def build_entities(cfg: WorldConfig) -> Entities:
    st = Streams(cfg.seed)
    camps = build_campaigns(cfg, st.rng("campaigns"))
    cust = build_customers(
        cfg, st.rng("customers"), camps, lambda c, ids: st.uniform("acquisition", c, ids)
    )
    sellers = build_sellers(cfg, st.rng("sellers"))
    cat = plant_price_drops(
        build_catalogue(cfg, st.rng("products"), sellers),
        cfg.price_drop_share,
        cfg.days,
        st.rng("prices"),
    )
    assort = build_assortment(cfg, st.rng("assortment"), cust, sellers, cat)
    first_day = int(min(cust.signup_day.min(), sellers.joined_day.min(), cat.created_day.min()))
    cal = build_calendar(cfg, st.rng("calendar"), first_day, cfg.days + 1)
    return Entities(st, cal, cust, sellers, cat, camps, assort, world_daily_spend(cfg, st))


# The tables the day loop streams: written as <table>/part-YYYYMMDD.parquet, one file per
# business date of the row's time (sessions: started_at; events, touches: occurred_at; orders and
# their items: ordered_at). The other tables are one file each.
PARTITIONED = ("sessions", "events", "orders", "order_items", "marketing_touches")
DEFAULT_BLOCK_DAYS = 30


@dataclass
class _Parts:
    """What a streamed world hands to its writer besides the partitioned rows."""

    tables: dict[str, pl.DataFrame]  # the tables written whole
    later_files: dict[str, pl.DataFrame]
    truth: dict[str, pl.DataFrame]
    manifest: dict


def generate(
    cfg: WorldConfig,
    part: Callable[[str, int, pl.DataFrame], None],
    log: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
    block_days: int | None = DEFAULT_BLOCK_DAYS,
) -> _Parts:
    """Generate a world, handing each PARTITIONED table's rows to ``part(table, day, rows)`` one
    business day at a time (in day order; ``day`` 0 is the start date), as soon as no later day
    can add rows before them. The day loop runs ``block_days`` days at a time; every row, id and
    truth value is the same whatever the block size (the details of a day are drawn from that
    day's own random stream), so the parts concatenate to the same tables."""
    say = log or (lambda _msg: None)
    t0 = time.perf_counter()
    ent = build_entities(cfg)
    st, cal, cust, sellers, cat, camps = ent.st, ent.cal, ent.cust, ent.sellers, ent.cat, ent.camps
    say(
        f"entities: {cust.n} customers, {sellers.n} sellers, {cat.n} products, "
        f"{len(camps)} campaigns"
    )
    sc = world_scenarios(cfg, ent.daily_spend)
    b = _Builder(
        cfg, st, cal, cust, sellers, cat, camps, ent.assortment, sc.names, sc.paid_spend[0]
    )
    rows: dict[str, int] = dict.fromkeys(PARTITIONED, 0)

    def emit(table: str, day: int, df: pl.DataFrame) -> None:
        df = df.select(list(contract_schema(table)))
        if dict(df.schema) != contract_schema(table):
            raise AssertionError(f"{table}: schema {dict(df.schema)} != contract")
        rows[table] += df.height
        if df.height:
            part(table, day, df)

    b.emit = emit
    for block in iter_days(cfg, st, cal, cust, camps, sc, progress, block_days):
        b.consume(block)
    b.finish()
    say(f"day loop ({len(sc.names)} scenarios), streamed tables: {time.perf_counter() - t0:.1f}s")
    tables = b.whole_tables()
    later_files = {"customers/profile_changes": b.profile_changes()}
    truth = b.build_truth()
    say(f"tables and truth: {time.perf_counter() - t0:.1f}s")
    for name, df in [*tables.items(), *later_files.items()]:  # the contract, exactly
        expected = contract_schema(name.split("/")[0])
        if dict(df.schema) != expected:
            raise AssertionError(f"{name}: schema {dict(df.schema)} != contract {expected}")
    counts = {
        k: rows[k] if k in PARTITIONED else tables[k].height
        for k in contract_tables()
        if k in PARTITIONED or k in tables  # the lift studies' tables are optional
    }
    manifest = {
        "simulator_version": SIMULATOR_VERSION,
        "config": cfg.to_dict(),
        "window": {
            "start_date": cfg.start_date.isoformat(),
            "end_date": cfg.end_date.isoformat(),
            "timezone": cfg.timezone,
        },
        "row_counts": counts,
        "later_file_row_counts": {k: v.height for k, v in later_files.items()},
        "truth_row_counts": {k: v.height for k, v in truth.items()},
        "totals": b.totals,
        "parameters": _parameters(cfg),
    }
    return _Parts(tables, later_files, truth, manifest)


def simulate(
    config: WorldConfig | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
    block_days: int | None = DEFAULT_BLOCK_DAYS,
) -> World:
    """Generate a world in memory (``generate`` with its parts concatenated). ``log`` receives
    stage messages, ``progress`` each finished day."""
    cfg = config or WorldConfig()
    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in PARTITIONED}
    out = generate(cfg, lambda table, _day, df: parts[table].append(df), log, progress, block_days)
    streamed = {
        name: pl.concat(dfs) if dfs else pl.DataFrame(schema=contract_schema(name))
        for name, dfs in parts.items()
    }
    tables = {
        name: out.tables.get(name, streamed.get(name))
        for name in contract_tables()
        if name in out.tables or name in streamed
    }
    return World(cfg, tables, out.truth, out.manifest, out.later_files)


def part_name(cfg: WorldConfig, day: int, fmt: str = "parquet") -> str:
    """The file of a partitioned table's rows of business day ``day``: part-YYYYMMDD.<fmt>."""
    return f"part-{(cfg.start_date + timedelta(days=day)):%Y%m%d}.{fmt}"


def simulate_to(
    config: WorldConfig,
    out_dir: str | Path,
    log: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
    block_days: int | None = DEFAULT_BLOCK_DAYS,
    fmt: str = "parquet",
) -> tuple[Path, dict]:
    """Generate a world straight to ``out_dir`` without holding it: the PARTITIONED tables as
    ``<table>/part-YYYYMMDD.<fmt>`` (written as each day is done), the others as
    ``<table>.<fmt>``, the truth in ``truth/``. Returns the folder and the manifest."""
    out = Path(out_dir)
    for name in PARTITIONED:
        folder = out / name
        # A previous world's files of the table would be read as this one's.
        for old in [*folder.glob("part-*"), *(out / f"{name}{s}" for s in (".parquet", ".csv"))]:
            old.unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)

    def write(table: str, day: int, df: pl.DataFrame) -> None:
        path = out / table / part_name(config, day, fmt)
        if path.exists():
            raise AssertionError(f"{path}: written twice")
        _write_table(df, path, fmt)

    parts = generate(config, write, log, progress, block_days)
    world = World(config, parts.tables, parts.truth, parts.manifest, parts.later_files)
    write_world(world, out, fmt)
    return out, parts.manifest


def _parameters(cfg: WorldConfig) -> dict:
    return {
        "channel_lift": cfg.channel_lift,
        "negative_push_lift": cfg.negative_push_lift,
        "decay_days": DECAY_DAYS,
        "click_prob": CLICK_PROB,
        "open_prob": OPEN_PROB,
        "unit_cost": UNIT_COST,
        "cost_model": COST_MODEL,
        "archetypes": {a: {k: v[j] for k, v in ARCH.items()} for j, a in enumerate(ARCHETYPES)},
        "coupon_use_prob": COUPON_USE_PROB,
        "response_window_days": cfg.response_window_days,
        "lift_model": "intensity x (1 + lift) and purchase-probability x (1 + lift); lift = sum of "
        "campaign lifts x exp(-days since touch / decay_days); paid touches act "
        "from the touch day, CRM sends from the day after the send",
        "holiday_rule": f"multiplier {FAMILY_HOLIDAY_MULT} on Seollal/Chuseok days, "
        f"{HOLIDAY_MULT} on other public holidays (holidays.country_holidays('KR'))",
        "weather_rule": f"multiplier {RAIN_MULT} on days with precipitation >= {RAIN_MM} mm in "
        "the customer's home region",
        "dow_index": [float(x) for x in np.asarray(DOW_INDEX) / np.mean(DOW_INDEX)],
        "shopping_episodes": {
            "start_prob": EPISODE_START,
            "stay_prob": EPISODE_STAY,
            "visit_mult": EPISODE_VISIT_MULT,
            "buy_mult": EPISODE_BUY_MULT,
            "search_after_visit": SEARCH_AFTER_VISIT,
            "search_episode_mult": SEARCH_EPISODE_MULT,
            "rule": "a latent on/off Markov state per customer-day, the same in every scenario; "
            "inside, visits x visit_mult and purchase probability x buy_mult relative to "
            "outside (normalised to keep the mean rates)",
        },
    }


def _dt(values_us: np.ndarray) -> pl.Series:
    return (
        pl.Series(np.asarray(values_us, dtype=np.int64))
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
    )


def _ids(prefix: str, n: int, width: int | None = None, start: int = 0) -> pl.Series:
    """``prefix`` + a zero-padded running number, start + 1 .. start + n."""
    width = width or max(6, len(str(n)))
    return pl.select(
        pl.format(
            prefix + "{}", pl.int_range(start + 1, start + n + 1).cast(pl.Utf8).str.zfill(width)
        )
    ).to_series()


def stream_id_width(cfg: WorldConfig) -> int:
    """Digits of the running numbers of the streamed tables' ids (sessions, events, orders,
    touches): fixed by the world's size before any row exists (ten rows per customer-day
    would still fit), where a whole table's ids used the digits of its row count."""
    return max(6, len(str(10 * cfg.customers * max(cfg.days, 1))))


def _at(values, idx: pl.Expr | str) -> pl.Expr:
    """Look ``values`` (a numpy array or list) up at the integer column ``idx`` (null -> null)."""
    idx = pl.col(idx) if isinstance(idx, str) else idx
    series = values if isinstance(values, pl.Series) else pl.Series(np.asarray(values))
    return pl.lit(series).gather(idx)


def customer_ids(cust: Customers) -> np.ndarray:
    """Customer ids in index order; the ids follow sign-up order."""
    rank = np.lexsort((np.arange(cust.n), cust.signup_sec, cust.signup_day))
    pos = np.empty(cust.n, dtype=np.int64)
    pos[rank] = np.arange(cust.n)
    return _ids("C", cust.n).to_numpy()[pos]


def scenario_orders(cfg: WorldConfig, ent: Entities, loop: LoopResult) -> pl.DataFrame:
    """Every scenario's purchases (s, i, d, k) with basket value (gross), coupon used
    (coupon_c), discount and amount paid (net), as the world's orders price them."""
    b = _Builder(
        cfg,
        ent.st,
        ent.cal,
        ent.cust,
        ent.sellers,
        ent.cat,
        ent.camps,
        ent.assortment,
        loop.scenarios,
        loop.paid_spend,
    )
    econ, _lines, _held = b._economics(
        pl.DataFrame(loop.purchases), pl.DataFrame(loop.coupons).select(HOLDING)
    )
    return econ


HOLDING = ["s", "i", "c", "first", "last"]  # a coupon held: scenario, customer, campaign, days


@dataclass
class _DayRecords:
    """The day loop's records of one day (LoopBlock fields)."""

    sessions: dict[str, np.ndarray]
    exposures: dict[str, np.ndarray]
    audience: dict[str, np.ndarray]


@dataclass
class _WholeWindow:
    """What the truth tables read of the whole window (a LoopResult's fields)."""

    scenarios: list[str]
    exposures: dict[str, np.ndarray]
    audience: dict[str, np.ndarray]
    base_grid: _BaseGrid
    lift_grid: np.ndarray
    episode_grid: np.ndarray
    paid_spend: np.ndarray


class _BaseGrid:
    """The day loop's intensity without marketing at (customers, days), recomputed from the
    customers, the calendar and the episodes exactly as the loop computes it (float32), so that
    the (N, D) grid need not be kept."""

    def __init__(self, cust: Customers, cal: Calendar, episode_grid: np.ndarray):
        self.cust, self.episode_grid = cust, episode_grid
        self.season = cal.season
        self.weather = cal.weather_mult.astype(np.float32)
        self.visit_mult = np.array(EPISODE_VISITS, dtype=np.float32)

    def __getitem__(self, key: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        i, d = key
        c = self.cust
        active = (c.signup_day[i] <= d) & (c.dropout_day[i] > d)
        base = (
            c.visit_rate[i]
            * self.season[d]
            * self.weather[c.region[i], d]
            * active
            * self.visit_mult[self.episode_grid[i, d].astype(np.int8)]
        )
        return base.astype(np.float32)


class _Sorted:
    """Rows of a table ordered by time over the whole window, held until no later day can add
    rows before them, then numbered in that order (``prefix`` + running number)."""

    def __init__(self, order: tuple[str, ...], id_col: str, prefix: str, width: int):
        self.order, self.id_col, self.prefix, self.width = order, id_col, prefix, width
        self.pending: list[pl.DataFrame] = []
        self.count = 0

    def add(self, df: pl.DataFrame) -> None:
        self.pending.append(df)

    def take(self, before_us: int) -> pl.DataFrame:
        """The rows whose time (the first order column) is before ``before_us``, in order, with
        their ids; the others stay."""
        if not self.pending:
            return pl.DataFrame()
        rows = pl.concat(self.pending)
        t = pl.col(self.order[0])
        done = rows.filter(t < before_us).sort(list(self.order), maintain_order=True)
        self.pending = [rows.filter(t >= before_us)]
        ids = _ids(self.prefix, done.height, self.width, self.count)
        self.count += done.height
        return done.with_columns(ids.alias(self.id_col))


class _Builder:
    def __init__(
        self,
        cfg: WorldConfig,
        st: Streams,
        cal: Calendar,
        cust: Customers,
        sellers: Sellers,
        cat: Catalogue,
        camps: Campaigns,
        assortment: Assortment,
        scenarios: list[str],
        paid_spend: np.ndarray,
    ):
        self.assortment = assortment
        self.cfg, self.st, self.cal, self.cust = cfg, st, cal, cust
        self.sellers, self.cat, self.camps = sellers, cat, camps
        self.scenarios, self.paid_spend = scenarios, paid_spend
        self.rng = st.rng("details", 0)
        self.day = 0
        self.customer_id = customer_ids(cust)
        self.seller_id = _ids("SL", sellers.n, 5).to_numpy()
        self.coupon_id = np.full(len(camps), None, dtype=object)
        has = camps.coupon_type != ""
        self.coupon_id[has] = [f"CP{j + 1:04d}" for j in range(int(has.sum()))]
        self.coupon_kind, self.coupon_mult = coupon_response(cust, st.uniform)
        self.messaging = build_messaging_truth(st, cust)
        self._tod_calls = 0
        self.totals: dict = {}

    # ---- helpers -------------------------------------------------------------------------
    def ts(self, day, sec) -> np.ndarray:
        return self.cal.day_start_us(day) + np.asarray(sec, dtype=np.int64) * US

    def send_us(self, c) -> np.ndarray:
        return self.ts(self.camps.start_day[c], self.camps.start_sec[c])

    def tod(self, i: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Seconds after local midnight for activity of customers ``i`` on days ``d``: the hourly
        pattern of visits, and after the sign-up on the sign-up day."""
        n = i.size
        w = np.asarray(HOUR_WEIGHTS, dtype=float)
        hour = self.rng.choice(24, size=n, p=w / w.sum())
        minute_sec = self.rng.integers(0, 3600, n)
        if self.cfg.personal_hours:  # the customer's own rhythm (messaging.py); same rng draws
            dow = (self.cfg.start_date.weekday() + np.asarray(d)) % 7
            self._tod_calls += 1
            key = (self.day * 4 + self._tod_calls) * (1 << 32) + np.arange(n)
            hour = activity_hours(self.messaging, self.st, i, dow, key)
        sec = hour * 3600 + minute_sec
        signup = self.cust.signup_sec[i]
        late = (d == self.cust.signup_day[i]) & (sec <= signup)
        return np.where(
            late, signup + 1 + (self.rng.random(n) * (86_399 - signup)).astype(int), sec
        )

    def random_products(self, i: np.ndarray, d: np.ndarray) -> np.ndarray:
        """A product a customer looks at: mostly the preferred category; within it, the customer's
        style, price level, favourite sellers and the risers (``Assortment.choose``)."""
        n = i.size
        other = self.assortment.other_category(d, self.rng.random(n))  # seasons included
        cat = np.where(self.rng.random(n) < 0.6, self.cust.pref_cat[i], other)
        target = self.assortment.view_target(category_median()[cat], i)
        return self.assortment.choose(
            self.cust, self.cat, i, d, cat, target, PRICE_WEIGHT, lambda _m: self.rng.random(n)
        )

    def cid(self, idx: str | pl.Expr = "i") -> pl.Expr:
        if not hasattr(self, "_cid"):  # converted once: the day loop looks ids up every day
            self._cid = pl.Series(self.customer_id)
        return _at(self._cid, idx)

    def pid(self, idx: str | pl.Expr = "product") -> pl.Expr:
        if not hasattr(self, "_pid"):
            self._pid = pl.Series(self.cat.product_id)
        return _at(self._pid, idx)

    # ---- orders across scenarios ---------------------------------------------------------
    def _economics(
        self, buys: pl.DataFrame, holdings: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Purchases (s, i, d, k) of any scenarios and days with basket value, coupon used and
        amount paid; their basket lines; and the coupon ``holdings`` (s, i, c, first, last) left
        unused. Each coupon goes to its holder's first qualifying order, the lower campaign
        index first on the same order; taken day by day (a block of days, then the next with
        the holdings left) that is the same assignment as over the whole window at once."""
        keys = buys.select("i", "d", "k").unique().sort("i", "d", "k")
        ki, kd, kk = (keys[c].to_numpy() for c in ("i", "d", "k"))
        lines = order_lines(self.st, self.cust, self.cat, self.assortment, ki, kd, kk)
        lines_df = (
            pl.DataFrame(
                {
                    "i": np.repeat(ki, 3),
                    "d": np.repeat(kd, 3),
                    "k": np.repeat(kk, 3),
                    "slot": np.tile(np.arange(3), ki.size),
                    "product": lines["product"].ravel(),
                    "qty": lines["qty"].ravel(),
                    "price": lines["price"].ravel(),
                    "valid": lines["valid"].ravel(),
                }
            )
            .filter("valid")
            .drop("valid")
        )
        keys = keys.with_columns(
            gross=pl.Series(lines["gross"]),
            u_use=pl.Series(self.st.uniform("coupon_use", ki, kd, kk)),
        )
        buys = buys.join(keys, on=["i", "d", "k"], how="left")
        # Coupons in send order: each is used at most once, on the first qualifying order.
        ids = ["s", "i", "d", "k"]
        used = pl.DataFrame(schema={**dict.fromkeys(ids, pl.Int64), "coupon_c": pl.Int64})
        camps = self.camps
        for c in np.flatnonzero(camps.coupon_type != ""):
            h = holdings.filter(pl.col("c") == int(c)).select("s", "i", "first", "last")
            cand = (
                buys.join(h, on=["s", "i"])
                .filter(
                    pl.col("d").is_between(pl.col("first"), pl.col("last")),
                    pl.col("gross") >= camps.coupon_min[c],
                    pl.col("u_use") < COUPON_USE_PROB,
                )
                .join(used, on=ids, how="anti")
                .sort(ids)
                .group_by("s", "i", maintain_order=True)
                .first()
                .select(*ids, coupon_c=pl.lit(int(c), pl.Int64))
            )
            used = pl.concat([used, cand])
        buys = buys.join(used, on=ids, how="left")
        c_idx = pl.col("coupon_c").fill_null(0)
        value = _at(camps.coupon_value.astype(np.float64), c_idx)
        discount = (
            pl.when(pl.col("coupon_c").is_null())
            .then(0.0)
            .when(_at(camps.coupon_type, c_idx) == "percent")
            .then((pl.col("gross") * value / 100.0).floor())
            .otherwise(pl.min_horizontal("gross", value))
        )
        econ = buys.with_columns(discount=discount).with_columns(
            net=pl.col("gross") - pl.col("discount")
        )
        spent = used.select("s", "i", c="coupon_c")
        return econ, lines_df, holdings.join(spent, on=["s", "i", "c"], how="anti")

    # ---- the streamed tables, day by day -------------------------------------------------
    def _start_stream(self) -> None:
        cfg, n, days = self.cfg, self.cust.n, self.cfg.days
        self.width = stream_id_width(cfg)
        # Local midnights of days 0 .. days + 1: the business date of a streamed row.
        self.day_starts = self.cal.day_start_us(np.arange(days + 2))
        self.n_sessions = 0
        self.events = _Sorted(("occurred_us", "row", "seq"), "event_id", "EV", self.width)
        self.order_rows = _Sorted(("ordered_us", "row"), "order_id", "OR", self.width)
        self.touch_rows = _Sorted(
            ("occurred_us", "i", "c", "type_order"), "touch_id", "TC", self.width
        )
        self.items_pending: list[pl.DataFrame] = []
        self.holdings = pl.DataFrame(schema=dict.fromkeys(HOLDING, pl.Int64))
        self.opened: dict[int, pl.DataFrame] = {}  # send day -> opened CRM messages
        self.aud_parts: list[pl.DataFrame] = []
        self.exposure_parts: list[dict[str, np.ndarray]] = []
        self.ghost_parts: list[dict[str, np.ndarray]] = []  # the lift studies' ghosts
        self.spend_parts: dict[str, list[pl.DataFrame]] = {
            k: [] for k in ("touch_counts", "send_counts", "crm_clicks", "conversions")
        }
        self.trigger_parts: list[pl.DataFrame] = []
        self.daily_parts: list[pl.DataFrame] = []
        self.order_totals = np.zeros(len(self.scenarios), dtype=np.int64)
        self.revenue_totals = np.zeros(len(self.scenarios), dtype=np.float64)
        # What the truth needs of the whole window: the factual summed lift and the episodes
        # (the intensity without marketing is recomputed from them, _BaseGrid).
        self.lift_grid = np.zeros((n, days), dtype=np.float32)
        self.episode_grid = np.zeros((n, days), dtype=bool)
        self.expected_visits = np.zeros(days, dtype=np.float64)
        self.factual_sessions = np.zeros(days, dtype=np.int64)

    def consume(self, block: LoopBlock) -> None:
        """Turn one block of the day loop into rows (handed to ``self.emit`` by day) and the
        running aggregates the truth and the whole tables need."""
        if not hasattr(self, "width"):
            self._start_stream()
        first, stop = block.first, block.stop
        self.lift_grid[:, first:stop] = block.lift_grid
        self.episode_grid[:, first:stop] = block.episode_grid
        for j in range(stop - first):  # a sequential sum, as the whole grid's column sum was
            self.expected_visits[first + j] = np.cumsum(block.base_grid[:, j], dtype=np.float64)[-1]
        self.factual_sessions[first:stop] = np.bincount(
            block.sessions["d"] - first, minlength=stop - first
        )
        self.exposure_parts.append({k: v.astype(np.int32) for k, v in block.exposures.items()})
        if block.ghosts and block.ghosts["i"].size:
            self.ghost_parts.append(block.ghosts)

        held = pl.concat([self.holdings, pl.DataFrame(block.coupons).select(HOLDING)])
        econ, lines, held = self._economics(pl.DataFrame(block.purchases), held)
        self.holdings = held.filter(pl.col("last") >= stop)
        per_s = econ.group_by("s").agg(orders=pl.len(), revenue=pl.col("net").sum())
        for s_, o, r in per_s.iter_rows():
            self.order_totals[s_] += o
            self.revenue_totals[s_] += r
        self.daily_parts.append(
            econ.group_by("s", "d").agg(orders=pl.len(), revenue=pl.col("net").sum())
        )
        factual = econ.filter(pl.col("s") == 0)

        aud = block.audience
        aud_day = self.camps.start_day[aud["c"]]
        for d in range(first, stop):

            def day_rows(rec: dict[str, np.ndarray], col: np.ndarray, d=d) -> dict:
                lo, hi = np.searchsorted(col, [d, d + 1])
                return {k: v[lo:hi] for k, v in rec.items()}

            self.rec = _DayRecords(
                sessions=day_rows(block.sessions, block.sessions["d"]),
                exposures=day_rows(block.exposures, block.exposures["d"]),
                audience=day_rows(aud, aud_day),
            )
            self._day(
                d,
                factual.filter(pl.col("d") == d),
                lines.filter(pl.col("d") == d),
            )

    def _day(self, d: int, buys: pl.DataFrame, lines: pl.DataFrame) -> None:
        """The factual rows of business day ``d``, from that day's own random stream."""
        self.day = d
        self.rng = self.st.rng("details", d)
        self._tod_calls = 0
        self.econ_day, self.lines = buys, lines
        sess = self._sessions()
        events, sess = self._events(sess)
        self._orders(sess, events)
        touches, sess = self._marketing(sess)
        self.touch_rows.add(touches)
        self.emit("sessions", d, sess)
        # No later day adds events or orders before its own midnight, nor touches more than
        # minutes before it (an impression shortly before a click just after midnight).
        self._flush(self.day_starts[d + 1], self.day_starts[d])

    def finish(self) -> None:
        """The rows still held back (the last days'), once the loop is done."""
        if not hasattr(self, "width"):
            self._start_stream()
        end = np.iinfo(np.int64).max
        self._flush(end, end)

    def _flush(self, events_before: int, touches_before: int) -> None:
        for table, stream, before in (
            ("events", self.events, events_before),
            ("marketing_touches", self.touch_rows, touches_before),
        ):
            for day, df in self._by_day(stream.take(before), "occurred_us"):
                self.emit(table, day, df)
        orders = self.order_rows.take(events_before)
        if orders.height:
            items = pl.concat(self.items_pending)
            done = items.join(orders.select("row", "order_id", "ordered_us"), on="row")
            self.items_pending = [items.join(orders.select("row"), on="row", how="anti")]
            for day, df in self._by_day(done.sort("order_id", "j"), "ordered_us"):
                self.emit("order_items", day, df)
        for day, df in self._by_day(orders, "ordered_us"):
            self.emit("orders", day, df)

    def _by_day(self, df: pl.DataFrame, time_col: str) -> list[tuple[int, pl.DataFrame]]:
        """``df`` (in its order) split by the business date of ``time_col`` (us)."""
        if not df.height:
            return []
        day = np.searchsorted(self.day_starts, df[time_col].to_numpy(), side="right") - 1
        parts = df.with_columns(_day=pl.Series(day)).partition_by(
            "_day", as_dict=True, maintain_order=True
        )
        return sorted((int(k[0]), v.drop("_day")) for k, v in parts.items())

    def whole_tables(self) -> dict[str, pl.DataFrame]:
        """The tables written whole (one file each), after the loop."""
        per_s = dict(enumerate(zip(self.order_totals, self.revenue_totals, strict=True)))
        self.scenario_totals = {
            name: (int(per_s[s][0]), float(per_s[s][1])) for s, name in enumerate(self.scenarios)
        }
        aud = (
            pl.concat(self.aud_parts)
            if self.aud_parts
            else pl.DataFrame(
                schema={"c": pl.Int64, "i": pl.Int64, "treated": pl.Boolean, "send_us": pl.Int64}
            )
        )
        parts, self.exposure_parts, self.aud_parts = self.exposure_parts, [], []
        exposures = {}
        for k in ("c", "d", "i"):
            exposures[k] = np.concatenate([p.pop(k) for p in parts]).astype(np.int64)
        self.loop = _WholeWindow(
            scenarios=self.scenarios,
            exposures=exposures,
            audience={k: aud[k].to_numpy() for k in ("c", "i", "treated")},
            base_grid=_BaseGrid(self.cust, self.cal, self.episode_grid),
            lift_grid=self.lift_grid,
            episode_grid=self.episode_grid,
            paid_spend=self.paid_spend,
        )
        t = {
            "customers": self._customers(),
            "sellers": self._sellers(),
            "products": self._products(),
            "campaigns": self._campaigns(),
            "campaign_sends": self._sends(aud),
            "marketing_spend": self._spend(),
            "coupons": self._coupons(),
            "weather": weather_table(self.cal),
            **(self._lift_studies() if self.cfg.lift_studies else {}),
            **(
                {"product_prices": price_history(self.cat, lambda d, s: _dt(self.ts(d, s)))}
                if self.cfg.price_drop_share > 0
                else {}
            ),
        }
        fact = self.scenario_totals["factual"]
        self.totals = {"orders": int(fact[0]), "revenue": float(fact[1])}
        if "no_marketing" in self.scenario_totals:
            base = self.scenario_totals["no_marketing"]
            self.totals.update(baseline_orders=int(base[0]), baseline_revenue=float(base[1]))
        return {name: df.select(list(contract_schema(name))) for name, df in t.items()}

    def _customers(self) -> pl.DataFrame:
        return self._customer_rows().sort("customer_id")

    def profile_changes(self) -> pl.DataFrame:
        """Later versions of some customers, as a later export would carry them: opted-in
        customers who opt out (and so lose night consent) and customers who move to another
        region, on a day after sign-up inside the window (updated_at). The day loop keeps the
        sign-up profile (its CRM may still message a customer who opted out, as a team that
        ignores opt-outs would); the platform must not."""
        cfg, c = self.cfg, self.cust
        i = np.arange(c.n)
        first = np.maximum(c.signup_day + 1, 0)
        opt_out = c.opt_in & (self.st.uniform("profile_changes", i, 0) < cfg.opt_out_share)
        move = self.st.uniform("profile_changes", i, 1) < cfg.move_share
        changed = (opt_out | move) & (first < cfg.days)
        day = first + (self.st.uniform("profile_changes", i, 2) * (cfg.days - first)).astype(int)
        sec = (self.st.uniform("profile_changes", i, 3) * 86_400).astype(np.int64)
        step = 1 + (self.st.uniform("profile_changes", i, 4) * (len(REGION_NAMES) - 1)).astype(int)
        new_region = np.array(REGION_NAMES)[(c.region + step) % len(REGION_NAMES)]
        rows = self._customer_rows()
        return (
            rows.with_columns(
                marketing_opt_in=pl.col("marketing_opt_in") & ~pl.Series(opt_out),
                night_opt_in=pl.col("night_opt_in") & ~pl.Series(opt_out),
                region=pl.when(pl.Series(move)).then(pl.Series(new_region)).otherwise("region"),
                updated_at=_dt(self.ts(np.minimum(day, cfg.days - 1), sec)),
            )
            .filter(pl.Series(changed))
            .sort("customer_id")
        )

    def _customer_rows(self) -> pl.DataFrame:
        """One row per customer, in index order: the profile given at sign-up."""
        c = self.cust
        signed_up_at = _dt(self.ts(c.signup_day, c.signup_sec))
        return pl.DataFrame(
            {
                "customer_id": self.customer_id,
                "signed_up_at": signed_up_at,
                "gender": c.gender,
                "birth_year": c.birth_year.astype(np.int64),
                "region": np.array(REGION_NAMES)[c.region],
                "marketing_opt_in": c.opt_in,
                "night_opt_in": c.night_opt_in,
                "acquisition_channel": c.acquisition,
                # the profile as given at sign-up; every customer lives in the business time zone
                "updated_at": signed_up_at,
                "time_zone": pl.Series([None] * c.n, dtype=pl.Utf8),
            }
        )

    def _sellers(self) -> pl.DataFrame:
        s = self.sellers
        return pl.DataFrame(
            {
                "seller_id": self.seller_id,
                "seller_name": s.name,
                "style": np.array(STYLES)[s.style],
                "joined_at": _dt(self.ts(s.joined_day, s.joined_sec)),
            }
        ).sort("seller_id")

    def _products(self) -> pl.DataFrame:
        p = self.cat
        l2 = np.array([CATEGORIES[CAT_NAMES[c]][2][j] for c, j in zip(p.cat, p.l2, strict=True)])
        return pl.DataFrame(
            {
                "product_id": p.product_id,
                "seller_id": self.seller_id[p.seller],
                "category_l1": np.array(CAT_NAMES)[p.cat],
                "category_l2": l2,
                "price": p.price.astype(np.float64),
                "style": np.array(STYLES)[p.style],
                "created_at": _dt(self.ts(p.created_day, p.created_sec)),
            }
        ).sort("product_id")

    def _sessions(self) -> pl.DataFrame:
        """Factual sessions with their funnel counts (before end times and utm tags)."""
        s = self.rec.sessions
        n = s["i"].size
        rng, cust = self.rng, self.cust
        arch = cust.archetype[s["i"]]
        df = pl.DataFrame(
            {
                "i": s["i"],
                "d": s["d"],
                "k": s["k"],
                "buy": s["buy"],
                "arch": arch,
                "start_sec": self.tod(s["i"], s["d"]),
                "device": np.where(
                    rng.random(n) < 0.85, cust.device[s["i"]], rng.integers(0, len(DEVICES), size=n)
                ),
                "region": np.where(
                    rng.random(n) < 0.92,
                    cust.region[s["i"]],
                    rng.integers(0, len(REGION_NAMES), size=n),
                ),
                "n_view": np.where(
                    s["view"], 1 + rng.poisson(np.asarray(ARCH["views"])[arch] - 1), 0
                ),
                "n_search": rng.poisson(np.asarray(ARCH["searches"])[arch]),
                "n_bm": np.where(s["view"], rng.poisson(np.asarray(ARCH["bookmarks"])[arch]), 0),
                "n_cart_only": np.where(s["cart"] & ~s["buy"], 1 + (rng.random(n) < 0.3), 0),
                "dur": np.asarray(ARCH["duration_s"])[arch] * rng.lognormal(0.0, 0.5, size=n),
            }
        )
        # The factual purchases' baskets.
        buys = self.econ_day.select("i", "d", "k", "gross", "discount", "net", "coupon_c")
        self.basket = (
            self.lines.join(buys.select("i", "d", "k"), on=["i", "d", "k"], how="semi")
            .sort("i", "d", "k", "slot")
            .with_columns(j=pl.int_range(pl.len()).over("i", "d", "k"))
        )
        n_lines = self.basket.group_by("i", "d", "k").agg(n_lines=pl.len())
        df = (
            df.join(n_lines, on=["i", "d", "k"], how="left")
            .join(buys, on=["i", "d", "k"], how="left")
            .with_columns(n_lines=pl.col("n_lines").fill_null(0))
        )
        df = df.with_columns(
            n_cart=pl.when("buy").then("n_lines").otherwise("n_cart_only"),
            n_purchase=pl.when("buy").then("n_lines").otherwise(0),
        ).with_columns(n_view=pl.max_horizontal("n_view", "n_cart"))
        df = df.with_columns(
            n_bm=pl.min_horizontal("n_bm", "n_view"),
            started_us=pl.Series(self.ts(df["d"].to_numpy(), df["start_sec"].to_numpy())),
        )
        df = df.sort("started_us", "i", "k").with_row_index("row", offset=self.n_sessions)
        df = df.with_columns(
            row=pl.col("row").cast(pl.Int64),
            session_id=_ids("SE", df.height, self.width, self.n_sessions),
            first_of_day=pl.col("row") == pl.col("row").min().over("i", "d"),
        )
        self.n_sessions += df.height
        return df

    def _events(self, sess: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        rng = self.rng
        base = sess.select("row", "i", "d")

        def rows(count: str) -> pl.DataFrame:
            return (
                sess.select("row", "i", "d", pl.int_ranges(0, pl.col(count)).alias("j"))
                .explode("j")
                .drop_nulls("j")
            )

        # Cart products: the basket for purchases, random picks for abandoned carts. Each cart
        # product is viewed first (views j < n_cart), the other views are random picks.
        basket = self.basket.join(sess.select("row", "i", "d", "k"), on=["i", "d", "k"]).select(
            "row", "j", "product"
        )
        abandoned = rows("n_cart_only")
        abandoned = abandoned.with_columns(
            product=pl.Series(
                self.random_products(abandoned["i"].to_numpy(), abandoned["d"].to_numpy())
            )
        ).select("row", "j", "product")
        carts = pl.concat([basket, abandoned])
        views = rows("n_view")
        views = views.with_columns(
            product=pl.Series(self.random_products(views["i"].to_numpy(), views["d"].to_numpy()))
        )
        views = views.join(
            carts.rename({"product": "cart_product"}), on=["row", "j"], how="left"
        ).with_columns(product=pl.coalesce("cart_product", "product"))
        bms = rows("n_bm").join(sess.select("row", "n_view"), on="row")
        bms = bms.with_columns(
            vj=(pl.Series(rng.random(bms.height)) * pl.col("n_view")).cast(pl.Int64)
        )
        bms = bms.join(views.select("row", vj="j", product="product"), on=["row", "vj"], how="left")
        searches = rows("n_search")
        searches = searches.with_columns(
            search_query=pl.Series(
                self.assortment.plant_keywords(  # the rising keywords, on keyed uniforms
                    self._queries(searches["i"].to_numpy()),
                    searches["d"].to_numpy(),
                    self.st.uniform("assortment", searches["row"], searches["j"]),
                )
            )
        )

        no_product, no_query = pl.lit(None, pl.Int64), pl.lit(None, pl.Utf8)
        parts = [
            base.select(
                "row",
                event_type=pl.lit("app_open"),
                phase=pl.lit(0.0),
                product=no_product,
                search_query=no_query,
            ),
            searches.select(
                "row",
                event_type=pl.lit("search"),
                phase=pl.lit(1.0),
                product=no_product,
                search_query="search_query",
            ),
            views.select(
                "row",
                event_type=pl.lit("view"),
                phase=pl.lit(1.0),
                product="product",
                search_query=no_query,
            ),
            bms.select(
                "row",
                event_type=pl.lit("bookmark"),
                phase=pl.lit(2.0),
                product="product",
                search_query=no_query,
            ),
            carts.select(
                "row",
                event_type=pl.lit("add_to_cart"),
                phase=3.0 + pl.col("j") / 10,
                product="product",
                search_query=no_query,
            ),
            basket.select(
                "row",
                event_type=pl.lit("purchase"),
                phase=4.0 + pl.col("j") / 10,
                product="product",
                search_query=no_query,
            ),
        ]
        ev = pl.concat(parts)
        n = ev.height
        # The phase orders the funnel; searches and views interleave at random, as do bookmarks.
        jitter = pl.Series(rng.random(n)) * 0.05
        ev = ev.with_columns(
            key=pl.col("phase") + pl.when(pl.col("phase") < 3).then(jitter).otherwise(0.0)
        ).sort("row", "key")
        n_ev = sess.select(
            "row",
            gap=pl.col("dur")
            / (
                1
                + pl.col("n_view")
                + pl.col("n_search")
                + pl.col("n_bm")
                + pl.col("n_cart")
                + pl.col("n_purchase")
            ),
        )
        ev = ev.join(n_ev, on="row", how="left", maintain_order="left")
        ev = ev.with_columns(
            step=pl.max_horizontal(
                pl.lit(1.0), (pl.Series(rng.exponential(1.0, n)) * pl.col("gap")).round(0)
            ),
            seq=pl.int_range(pl.len()).over("row"),
        ).with_columns(
            offset=pl.when(pl.col("seq") == 0)
            .then(0.0)
            .otherwise("step")
            .cum_sum()
            .over("row")
            .cast(pl.Int64)
        )
        ends = ev.group_by("row").agg(last=pl.col("offset").max())
        sess = sess.join(ends, on="row", how="left").sort("row")
        sess = sess.with_columns(
            ended_us=pl.col("started_us")
            + (pl.col("last") + pl.Series(rng.integers(5, 90, sess.height))) * US
        )
        ev = ev.join(sess.select("row", "started_us", "session_id", "i"), on="row", how="left")
        ev = ev.with_columns(occurred_us=pl.col("started_us") + pl.col("offset") * US)
        ev = ev.sort("occurred_us", "row", "seq")
        ev = ev.with_columns(
            customer_id=self.cid(),
            occurred_at=_dt(ev["occurred_us"].to_numpy()),
            product_id=self.pid(),
        )
        # A session's events are all drawn on its day, so its triggers are complete here
        # (several on one date are merged in the truth).
        self.trigger_parts.append(
            trigger_events(ev, self.cfg.start_date, self.cfg.timezone).select(
                "kind", "customer_id", "product_id", "trigger_date", "first_at"
            )
        )
        self.events.add(
            ev.select(
                "occurred_us",
                "row",
                "seq",
                *(c for c in contract_schema("events") if c != "event_id"),
            )
        )
        return ev, sess

    def _queries(self, i: np.ndarray) -> np.ndarray:
        rng = self.rng
        n = i.size
        vocab, start = [], []
        for c in CAT_NAMES:
            start.append(len(vocab))
            for l2 in CATEGORIES[c][2]:
                text = l2.replace("_", " ")
                vocab += [text] + [f"{s} {text}" for s in STYLES]
        start.append(len(vocab))
        start = np.asarray(start)
        cat = np.where(
            rng.random(n) < 0.7, self.cust.pref_cat[i], rng.integers(0, len(CAT_NAMES), size=n)
        )
        size = start[cat + 1] - start[cat]
        return np.asarray(vocab)[start[cat] + (rng.random(n) * size).astype(np.int64)]

    def _orders(self, sess: pl.DataFrame, events: pl.DataFrame):
        first_purchase = (
            events.filter(pl.col("event_type") == "purchase")
            .group_by("row")
            .agg(ordered_us=pl.col("occurred_us").min())
        )
        o = sess.filter("buy").join(first_purchase, on="row", how="left").sort("ordered_us", "row")
        # The order ids follow the order time over the whole window (self.order_rows).
        orders = o.select(
            "row",
            "ordered_us",
            customer_id=self.cid(),
            ordered_at=_dt(o["ordered_us"].to_numpy()),
            order_amount=pl.col("net").cast(pl.Float64),
            session_id="session_id",
            coupon_id=_at(self.coupon_id.astype(str), "coupon_c"),
        )
        items = self.basket.join(o.select("i", "d", "k", "row"), on=["i", "d", "k"]).select(
            "row",
            "j",
            product_id=self.pid(),
            quantity=pl.col("qty").cast(pl.Int64),
            unit_price=pl.col("price").cast(pl.Float64),
        )
        self.order_rows.add(orders)
        self.items_pending.append(items)

    def _marketing(self, sess: pl.DataFrame):
        """The day's touch rows and CRM assignments, and the utm tags of the sessions they
        brought."""
        rng, camps, day = self.rng, self.camps, self.day
        n_creatives = camps.n_creatives
        exp = pl.DataFrame(self.rec.exposures)
        exp = exp.with_columns(
            creative=(pl.Series(rng.random(exp.height)) * _at(n_creatives, "c")).cast(pl.Int64),
            tod=pl.Series(self.tod(exp["i"].to_numpy(), exp["d"].to_numpy())),
        )
        aud = pl.DataFrame(self.rec.audience).with_columns(cid=self.cid()).sort("c", "cid")
        open_p = np.array([OPEN_PROB.get(CHANNELS[ch], 0.0) for ch in camps.channel])
        aud = aud.with_columns(
            send_us=pl.Series(
                self.send_us(aud["c"].to_numpy()) + rng.integers(0, 600, aud.height) * US
            ),
            creative=(pl.Series(rng.random(aud.height)) * _at(n_creatives, "c")).cast(pl.Int64),
            opened=pl.col("treated") & (pl.Series(rng.random(aud.height)) < _at(open_p, "c")),
        )

        # utm tags: the first session of a customer-day can come through a paid exposure of that
        # day, or through a CRM message opened the day before or two days before.
        firsts = sess.filter("first_of_day").select("row", "i", "d")
        paid = exp.join(firsts, on=["i", "d"]).select("row", "c", "creative")
        self.opened[day] = aud.filter("opened").select("c", "i", "creative")
        self.opened.pop(day - 3, None)
        self.aud_parts.append(aud.select("c", "i", "treated", "send_us"))
        none = self.opened[day].clear()
        crm = (
            pl.concat([self.opened.get(day - off, none) for off in (1, 2)])
            .with_columns(d=pl.lit(day, pl.Int64))
            .join(firsts, on=["i", "d"])
            .select("row", "c", "creative")
        )
        cand = pl.concat([paid, crm]).sort("row", "c")
        click_p = np.array([CLICK_PROB[CHANNELS[ch]] for ch in camps.channel])
        cand = cand.with_columns(
            u=pl.Series(rng.random(cand.height)), key=pl.Series(rng.random(cand.height))
        )
        label = (
            cand.filter(pl.col("u") < _at(click_p, "c"))
            .sort("row", "key")
            .group_by("row", maintain_order=True)
            .first()
            .select("row", utm_c="c", utm_creative="creative")
        )
        sess = sess.join(label, on="row", how="left").sort("row")
        medium = np.array([UTM[CHANNELS[ch]][1] for ch in camps.channel])
        creative_id = (
            _at(camps.campaign_id, "utm_c") + "-CR" + (pl.col("utm_creative") + 1).cast(pl.Utf8)
        )
        sess = sess.with_columns(
            utm_source=_at(camps.utm_source, "utm_c"),
            utm_medium=_at(medium, "utm_c"),
            utm_campaign=_at(camps.campaign_id, "utm_c"),
            utm_content=creative_id,
        )
        labelled = sess.filter(pl.col("utm_c").is_not_null()).select(
            "row", "i", "d", "utm_c", "started_us", "buy"
        )
        self.spend_parts["crm_clicks"].append(
            labelled.filter(_at(camps.is_crm, "utm_c"))
            .group_by(c="utm_c", d="d")
            .agg(crm_clicks=pl.len())
        )
        self.spend_parts["conversions"].append(
            labelled.filter("buy").group_by(c="utm_c", d="d").agg(conversions=pl.len())
        )

        # Paid touches: an impression per exposure; for a paid-tagged session, a click seconds
        # before it and its impression minutes before that.
        paid_lab = labelled.filter(_at(~camps.is_crm, "utm_c"))
        clicks = paid_lab.select(
            "i",
            "d",
            c="utm_c",
            click_us=pl.col("started_us") - pl.Series(rng.integers(2, 30, paid_lab.height)) * US,
        )
        exp = exp.join(clicks, on=["c", "d", "i"], how="left")
        exp = exp.with_columns(
            occurred_us=pl.when(pl.col("click_us").is_not_null())
            .then(pl.col("click_us") - pl.Series(rng.integers(10, 600, exp.height)) * US)
            .otherwise(pl.Series(self.ts(exp["d"].to_numpy(), exp["tod"].to_numpy())))
        )
        sent = aud.filter("treated")
        opens = sent.filter("opened")
        # Opens follow the send (40 minutes on average), the same evening.
        open_delay = (rng.exponential(2400.0, opens.height) + 5).astype(np.int64) * US
        day_end = self.cal.day_start_us(camps.start_day + 1) - US
        touches = pl.concat(
            [
                exp.select("i", "occurred_us", "c", "creative", touch_type=pl.lit("impression")),
                exp.filter(pl.col("click_us").is_not_null()).select(
                    "i",
                    occurred_us="click_us",
                    c="c",
                    creative="creative",
                    touch_type=pl.lit("click"),
                ),
                sent.select(
                    "i",
                    occurred_us="send_us",
                    c="c",
                    creative="creative",
                    touch_type=pl.lit("send"),
                ),
                opens.select(
                    "i",
                    occurred_us=pl.min_horizontal(
                        pl.col("send_us") + pl.Series(open_delay), _at(day_end, "c")
                    ),
                    c="c",
                    creative="creative",
                    touch_type=pl.lit("open"),
                ),
            ]
        )
        type_order = pl.col("touch_type").replace_strict(
            {"impression": 0, "click": 1, "send": 2, "open": 3}, return_dtype=pl.Int64
        )
        # The touch ids follow the touch time over the whole window (self.touch_rows).
        touches = touches.select(
            "occurred_us",
            "i",
            "c",
            type_order=type_order,
            customer_id=self.cid(),
            occurred_at=_dt(touches["occurred_us"].to_numpy()),
            channel=_at(np.array(CHANNELS)[camps.channel], "c"),
            campaign_id=_at(camps.campaign_id, "c"),
            creative_id=_at(camps.campaign_id, "c")
            + "-CR"
            + (pl.col("creative") + 1).cast(pl.Utf8),
            touch_type="touch_type",
        )
        self.spend_parts["touch_counts"].append(
            exp.group_by("c", "d").agg(
                impressions=pl.len(), clicks=pl.col("click_us").is_not_null().sum()
            )
        )
        self.spend_parts["send_counts"].append(sent.group_by("c").agg(sends=pl.len()))
        sessions = sess.select(
            "session_id",
            customer_id=self.cid(),
            started_at=_dt(sess["started_us"].to_numpy()),
            ended_at=_dt(sess["ended_us"].to_numpy()),
            device=_at(np.array(DEVICES), "device"),
            region=_at(np.array(REGION_NAMES), "region"),
            utm_source="utm_source",
            utm_medium="utm_medium",
            utm_campaign="utm_campaign",
            utm_content="utm_content",
            page_views=pl.col("n_view").cast(pl.Int64),
            search_count=pl.col("n_search").cast(pl.Int64),
        )
        return touches, sessions

    def _sends(self, aud: pl.DataFrame) -> pl.DataFrame:
        """campaign_sends: every CRM assignment of the window, by campaign and customer."""
        camps = self.camps
        aud = aud.with_columns(cid=self.cid()).sort("c", "cid")
        return aud.select(
            send_id=_ids("SD", aud.height),
            campaign_id=_at(camps.campaign_id, "c"),
            customer_id=self.cid(),
            assigned_at=_dt(self.send_us(aud["c"].to_numpy()) - 2 * 3600 * US),
            group=pl.when("treated").then(pl.lit("treatment")).otherwise(pl.lit("holdout")),
            sent_at=pl.when("treated")
            .then(pl.col("send_us"))
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC"),
        )

    def _campaigns(self) -> pl.DataFrame:
        c = self.camps
        started = np.where(c.is_crm, self.send_us(np.arange(len(c))), self.ts(c.start_day, 0))
        return pl.DataFrame(
            {
                "campaign_id": c.campaign_id,
                "campaign_name": c.name,
                "channel": np.array(CHANNELS)[c.channel],
                "objective": c.objective,
                "started_at": _dt(started),
                "ended_at": _dt(self.cal.day_start_us(c.end_day + 1) - US),
                "cost_model": [COST_MODEL[CHANNELS[ch]] for ch in c.channel],
            }
        ).sort("campaign_id")

    def _lift_studies(self) -> dict[str, pl.DataFrame]:
        """lift_study_assignments (every customer of every study, test or holdout) and
        lift_study_ghost_impressions (the holdout's would-be impressions, at a time of day from
        the counter-based stream, so the other tables keep their random numbers)."""
        studies, start = self.cfg.lift_studies, self.cfg.start_date
        parts = []
        for k, study in enumerate(studies):
            held = self.st.uniform("lift_study", k, np.arange(self.cust.n)) < study.holdout_share
            parts.append(
                pl.DataFrame(
                    {
                        "study_id": f"LS{k + 1:02d}",
                        "channel": study.channel,
                        "customer_id": self.customer_id,
                        "group": np.where(held, "holdout", "test"),
                        "start_date": start + timedelta(days=study.start_day),
                        "end_date": start + timedelta(days=study.start_day + study.days - 1),
                    }
                )
            )
        g = pl.concat([pl.DataFrame(p) for p in self.ghost_parts]) if self.ghost_parts else None
        if g is not None and g.height:
            k, d, i = (g[c].to_numpy() for c in ("k", "d", "i"))
            sec = (self.st.uniform("lift_study", -1 - k, i, d) * 86_400).astype(np.int64)
            g = g.with_columns(us=pl.Series(self.ts(d, sec))).sort("us", "i", "k")
            ghosts = g.select(
                study_id=pl.format("LS{}", (pl.col("k") + 1).cast(pl.Utf8).str.zfill(2)),
                customer_id=self.cid(),
                occurred_at=_dt(g["us"].to_numpy()),
            )
        else:
            ghosts = pl.DataFrame(schema=contract_schema("lift_study_ghost_impressions"))
        return {
            "lift_study_assignments": pl.concat(parts),
            "lift_study_ghost_impressions": ghosts,
        }

    def _coupons(self) -> pl.DataFrame:
        c = self.camps
        has = c.coupon_type != ""
        return pl.DataFrame(
            {
                "coupon_id": self.coupon_id[has].astype(str),
                "campaign_id": c.campaign_id[has],
                "discount_type": c.coupon_type[has],
                "discount_value": c.coupon_value[has].astype(np.float64),
                "min_order_amount": c.coupon_min[has].astype(np.float64),
            },
            schema=contract_schema("coupons"),
        ).sort("coupon_id")

    def _spend(self) -> pl.DataFrame:
        """One row per campaign and business day it runs, priced by its cost model."""
        c, cust = self.camps, self.cust
        days = pl.DataFrame({"c": np.arange(len(c)), "first": c.start_day, "last": c.end_day})
        days = days.with_columns(d=pl.int_ranges("first", pl.col("last") + 1)).explode("d")
        part = {k: pl.concat(v) for k, v in self.spend_parts.items()}
        sends = (
            part["send_counts"]
            .group_by("c")
            .agg(pl.col("sends").sum())
            .with_columns(d=_at(c.start_day, "c"))
        )
        crm_clicks, conversions = part["crm_clicks"], part["conversions"]
        acq = np.flatnonzero(cust.acquisition_campaign >= 0)
        installs = (
            pl.DataFrame({"c": cust.acquisition_campaign[acq], "d": cust.signup_day[acq]})
            .group_by("c", "d")
            .agg(installs=pl.len())
        )
        df = (
            days.join(part["touch_counts"], on=["c", "d"], how="left")
            .join(sends, on=["c", "d"], how="left")
            .join(crm_clicks, on=["c", "d"], how="left")
            .join(conversions, on=["c", "d"], how="left")
            .join(installs, on=["c", "d"], how="left")
            .fill_null(0)
        )
        # CRM messages: delivered messages count as impressions, tagged visits as clicks.
        df = df.with_columns(
            impressions=pl.col("impressions") + pl.col("sends"),
            clicks=pl.col("clicks") + pl.col("crm_clicks"),
        )
        # Paid channels: the budget that drove their reach, each day's channel spend split
        # evenly over its running campaigns. CRM: priced per send (KakaoTalk) or free.
        paid = _at([ch < len(PAID_CHANNELS) for ch in c.channel], "c")
        df = df.with_columns(
            ch=_at(c.channel, "c"), n_running=pl.len().over(_at(c.channel, "c"), "d")
        )
        paid_ch = pl.min_horizontal("ch", len(PAID_CHANNELS) - 1)  # CRM rows: any valid index
        budget = _at(self.paid_spend.ravel(), paid_ch * self.cfg.days + pl.col("d"))
        unit = _at([UNIT_COST[CHANNELS[ch]] for ch in c.channel], "c")
        spend = (
            pl.when(paid)
            .then(budget / pl.col("n_running"))
            .when(_at([COST_MODEL[CHANNELS[ch]] for ch in c.channel], "c") == "per_send")
            .then(unit * pl.col("sends"))
            .otherwise(0.0)
        )
        return df.select(
            date=_at(np.array(self.cal.dates, dtype="datetime64[D]"), "d").cast(pl.Date),
            channel=_at(np.array(CHANNELS)[c.channel], "c"),
            campaign_id=_at(c.campaign_id, "c"),
            spend=spend.round(2).cast(pl.Float64),
            impressions=pl.col("impressions").cast(pl.Int64),
            clicks=pl.col("clicks").cast(pl.Int64),
            installs=pl.col("installs").cast(pl.Int64),
        ).sort("date", "campaign_id")

    # ---- truth ---------------------------------------------------------------------------
    def build_truth(self) -> dict[str, pl.DataFrame]:
        truth = {
            "channel_effects": self._channel_effects(),
            "campaign_uplift": self._campaign_uplift(),
            "coupon_effects": self._coupon_effects(),
            "customers": self._customer_truth(),
            "shopping_episodes": self._shopping_episodes(),
        }
        truth.update(calendar_truth(self.cal))
        truth.update(
            assortment_truth(
                self.assortment,
                self.cust,
                self.sellers,
                self.cat,
                self.customer_id,
                self.seller_id,
                self.cfg.start_date,
            )
        )
        truth["daily"] = self._daily()
        truth.update(messaging_truth_tables(self.messaging, self.customer_id))
        truth["channel_response_params"] = self._channel_response_params()
        if any(name.startswith("curve_") for name in self.loop.scenarios):
            truth["response_curves"] = self._response_curves()
        truth["trigger_intent"] = self._trigger_intent()
        if self.cfg.price_drop_share > 0:
            truth["price_drops"] = drop_truth(self.cat, self.cfg.start_date)
        return truth

    def _trigger_intent(self) -> pl.DataFrame:
        """truth/trigger_intent from the triggers found day by day (one trigger per kind,
        customer, product and business date, from its first event)."""
        rows = pl.concat(self.trigger_parts)
        start = self.cfg.start_date
        triggers = (
            rows.group_by("kind", "customer_id", "product_id", "trigger_date")
            .agg(pl.col("first_at").min())
            .with_columns(
                trigger_day=(pl.col("trigger_date") - pl.lit(start)).dt.total_days().cast(pl.Int32)
            )
            .select(list(TRIGGER_SCHEMA))
            .cast(TRIGGER_SCHEMA)
            .sort("trigger_day", "kind", "customer_id", "product_id")
        )
        return trigger_probabilities(triggers)

    def _channel_response_params(self) -> pl.DataFrame:
        """The planted spend -> reach curve of each paid channel (spend.py)."""
        ref = reference_daily_spend(self.cfg)
        spend = self.loop.paid_spend
        return pl.DataFrame(
            {
                "channel": list(PAID_CHANNELS),
                "reference_daily_spend": ref,
                "mean_weekly_spend": spend.sum(axis=1) / self.cfg.days * WEEK_DAYS,
                "adstock_decay": [SPEND_ADSTOCK[c] for c in PAID_CHANNELS],
                "adstock_decay_weekly": [SPEND_ADSTOCK[c] ** WEEK_DAYS for c in PAID_CHANNELS],
                "hill_half_saturation_daily_spend": [
                    HILL_HALF[c] * r for c, r in zip(PAID_CHANNELS, ref, strict=True)
                ],
                "hill_half_saturation_weekly_spend": [
                    HILL_HALF[c] * r * WEEK_DAYS for c, r in zip(PAID_CHANNELS, ref, strict=True)
                ],
                "hill_shape": [HILL_SHAPE[c] for c in PAID_CHANNELS],
                "max_reach_multiplier": [float(hill(np.array(1e12), c)) for c in PAID_CHANNELS],
                "lift": [float(self.cfg.channel_lift[c]) for c in PAID_CHANNELS],
                "decay_days": [float(DECAY_DAYS[c]) for c in PAID_CHANNELS],
            }
        )

    def _response_curves(self) -> pl.DataFrame:
        """Per paid channel and spend scale: incremental orders and revenue over the window
        against the channel switched off, the other channels at their factual spend."""
        tot, days = self.scenario_totals, self.cfg.days
        rows = []
        for k, ch in enumerate(PAID_CHANNELS):
            off = tot[f"no_{ch}"]
            mean_weekly = float(self.loop.paid_spend[k].sum()) / days * WEEK_DAYS
            for x in sorted({0.0, 1.0, *CURVE_SCALES}):
                name = {0.0: f"no_{ch}", 1.0: "factual"}.get(x, curve_scenario(ch, x))
                o, r = tot[name]
                rows.append(
                    {
                        "channel": ch,
                        "spend_scale": x,
                        "weekly_spend": mean_weekly * x,
                        "total_spend": float(self.loop.paid_spend[k].sum()) * x,
                        "orders": int(o),
                        "incremental_orders": int(o - off[0]),
                        "incremental_revenue": float(r - off[1]),
                    }
                )
        return pl.DataFrame(rows)

    def _channel_effects(self) -> pl.DataFrame:
        c, tot = self.camps, self.scenario_totals
        fo, fr = tot["factual"]
        base = tot.get("no_marketing")
        rows = []
        for k, ch in enumerate(CHANNELS):
            lifts = c.lift[c.channel == k]
            off = tot.get(f"no_{ch}")
            rows.append(
                {
                    "channel": ch,
                    "lift": float(self.cfg.channel_lift[ch]),
                    "campaign_lift_min": float(lifts.min()) if lifts.size else 0.0,
                    "campaign_lift_max": float(lifts.max()) if lifts.size else 0.0,
                    "decay_days": float(DECAY_DAYS[ch]),
                    "n_campaigns": int(lifts.size),
                    "is_zero_effect": bool(not np.any(lifts != 0)),
                    "factual_orders": int(fo),
                    "factual_revenue": float(fr),
                    "counterfactual_orders": None if off is None else int(off[0]),
                    "counterfactual_revenue": None if off is None else float(off[1]),
                    "incremental_orders": None if off is None else int(fo - off[0]),
                    "incremental_revenue": None if off is None else float(fr - off[1]),
                    "baseline_orders": None if base is None else int(base[0]),
                    "baseline_revenue": None if base is None else float(base[1]),
                }
            )
        return pl.DataFrame(
            rows,
            schema={
                "channel": pl.Utf8,
                "lift": pl.Float64,
                "campaign_lift_min": pl.Float64,
                "campaign_lift_max": pl.Float64,
                "decay_days": pl.Float64,
                "n_campaigns": pl.Int64,
                "is_zero_effect": pl.Boolean,
                "factual_orders": pl.Int64,
                "factual_revenue": pl.Float64,
                "counterfactual_orders": pl.Int64,
                "counterfactual_revenue": pl.Float64,
                "incremental_orders": pl.Int64,
                "incremental_revenue": pl.Float64,
                "baseline_orders": pl.Int64,
                "baseline_revenue": pl.Float64,
            },
        )

    def _campaign_uplift(self) -> pl.DataFrame:
        """Per campaign, over the customers it reached (CRM: its treatment group), the true change
        in the chance of at least one order in the response window that opens with the first
        touch: P(order | its lift) - P(order | the same world without this campaign's lift)."""
        c, w, days = self.camps, self.cfg.response_window_days, self.cfg.days
        exp = pl.DataFrame(self.loop.exposures).select("c", "i", tau="d")
        aud = pl.DataFrame(self.loop.audience)
        treated = aud.filter("treated").select("c", "i", tau=_at(c.start_day + 1, "c"))
        touches = pl.concat([exp, treated]).filter(pl.col("tau") < days)
        assigned = aud.group_by("c").agg(assigned=pl.len(), treated=pl.col("treated").sum())
        empty = {"touched": 0, "p_treated": None, "p_untreated": None, "true_uplift": None}
        rows = []
        for k, part in touches.partition_by("c", as_dict=True, maintain_order=True).items():
            rows.append(
                {
                    "c": k[0],
                    **self._uplift_of(k[0], part["i"].to_numpy(), part["tau"].to_numpy(), w, days),
                }
            )
        have = {r["c"] for r in rows}
        rows += [{"c": k, **empty} for k in range(len(c)) if k not in have]
        up = pl.DataFrame(
            rows,
            schema={
                "c": pl.Int64,
                "touched": pl.Int64,
                "p_treated": pl.Float64,
                "p_untreated": pl.Float64,
                "true_uplift": pl.Float64,
            },
        )
        up = up.join(assigned, on="c", how="left").sort("c")
        window_start = np.where(c.is_crm, self.send_us(np.arange(len(c))), self.ts(c.start_day, 0))
        last = np.minimum(c.end_day + np.where(c.is_crm, 0, w - 1), days - 1)
        window_end = self.cal.day_start_us(last + 1) - US
        return up.select(
            campaign_id=_at(c.campaign_id, "c"),
            channel=_at(np.array(CHANNELS)[c.channel], "c"),
            objective=_at(c.objective, "c"),
            lift=_at(c.lift.astype(np.float64), "c"),
            is_zero_effect=_at(c.lift == 0, "c"),
            is_negative=_at(c.lift < 0, "c"),
            is_night_send=_at(c.night, "c"),
            has_coupon=_at(c.coupon_type != "", "c"),
            has_malformed_name=_at(c.malformed, "c"),
            holdout_share=_at(c.holdout_share.astype(np.float64), "c"),
            assigned=pl.col("assigned").fill_null(0).cast(pl.Int64),
            treated=pl.col("treated").fill_null(0).cast(pl.Int64),
            touched="touched",
            window_start=_at(window_start, "c").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            window_end=_at(window_end, "c").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            response_window_days=pl.lit(w, pl.Int64),
            p_treated="p_treated",
            p_untreated="p_untreated",
            true_uplift="true_uplift",
        )

    def _uplift_of(self, k: int, i: np.ndarray, tau: np.ndarray, w: int, days: int) -> dict:
        lift = float(self.camps.lift[k])
        decay = float(np.exp(-1.0 / DECAY_DAYS[CHANNELS[self.camps.channel[k]]]))
        order = np.lexsort((tau, i))
        i, tau = i[order], tau[order]
        # A coupon's lift is the campaign's times the customer's coupon response multiplier.
        lift_t = lift * (self.coupon_mult[i] if self.camps.coupon_type[k] else np.ones(i.size))
        cust, first, pos = np.unique(i, return_index=True, return_inverse=True)
        t0 = tau[first]
        # This campaign's own lift on each window day t0 + v: its touches up to that day, decayed.
        contrib = np.zeros((cust.size, w))
        for v in range(w):
            age = t0[pos] + v - tau
            contrib[:, v] = np.bincount(
                pos, weights=np.where(age >= 0, lift_t * decay**age, 0.0), minlength=cust.size
            )
        t = t0[:, None] + np.arange(w)[None, :]
        inside = t < days
        ii, tt = np.broadcast_to(cust[:, None], t.shape)[inside], t[inside]
        base = self.loop.base_grid[ii, tt].astype(np.float64)
        lft = self.loop.lift_grid[ii, tt].astype(np.float64)
        ep = self.loop.episode_grid[ii, tt]
        h1 = np.zeros(t.shape)
        h0 = np.zeros(t.shape)
        h1[inside] = hazard(self.cust, ii, base, lft, ep)
        h0[inside] = hazard(self.cust, ii, base, lft - contrib[inside], ep)
        p1 = 1 - np.exp(-h1.sum(axis=1))
        p0 = 1 - np.exp(-h0.sum(axis=1))
        return {
            "touched": int(cust.size),
            "p_treated": float(p1.mean()),
            "p_untreated": float(p0.mean()),
            "true_uplift": 0.0 if lift == 0 else float((p1 - p0).mean()),
        }

    def _coupon_effects(self) -> pl.DataFrame:
        """Per coupon campaign and assigned customer (treatment and holdout alike): the customer's
        coupon response kind and the true change in P(order in the response window) that the
        coupon message makes, from the hazards with and without it (the holdout's as if sent)."""
        c, w, days = self.camps, self.cfg.response_window_days, self.cfg.days
        aud = pl.DataFrame(self.loop.audience).filter(
            pl.col("c").is_in(np.flatnonzero(c.coupon_type != "").tolist())
        )
        k, i, treated = (aud[col].to_numpy() for col in ("c", "i", "treated"))
        decay = np.exp(-1.0 / np.array([DECAY_DAYS[CHANNELS[ch]] for ch in c.channel[k]]))
        v = np.arange(w)[None, :]
        contrib = (c.lift[k] * self.coupon_mult[i])[:, None] * decay[:, None] ** v
        t = (c.start_day[k] + 1)[:, None] + v
        inside = t < days
        ii, tt = np.broadcast_to(i[:, None], t.shape)[inside], t[inside]
        base = self.loop.base_grid[ii, tt].astype(np.float64)
        factual = self.loop.lift_grid[ii, tt].astype(np.float64)
        ep = self.loop.episode_grid[ii, tt]
        own = contrib[inside]
        sent = np.broadcast_to(treated[:, None], t.shape)[inside]
        h_with, h_without = np.zeros(t.shape), np.zeros(t.shape)
        h_with[inside] = hazard(self.cust, ii, base, factual + np.where(sent, 0.0, own), ep)
        h_without[inside] = hazard(self.cust, ii, base, factual - np.where(sent, own, 0.0), ep)
        p_with = 1 - np.exp(-h_with.sum(axis=1))
        p_without = 1 - np.exp(-h_without.sum(axis=1))
        return pl.DataFrame(
            {
                "campaign_id": c.campaign_id[k].astype(str),
                "customer_id": self.customer_id[i].astype(str),
                "is_treatment": treated.astype(bool),
                "coupon_response": np.array(COUPON_KINDS)[self.coupon_kind[i]].astype(str),
                "coupon_multiplier": self.coupon_mult[i].astype(np.float64),
                "p_with_coupon": p_with,
                "p_without_coupon": p_without,
                "true_uplift": p_with - p_without,
            },
            schema={
                "campaign_id": pl.Utf8,
                "customer_id": pl.Utf8,
                "is_treatment": pl.Boolean,
                "coupon_response": pl.Utf8,
                "coupon_multiplier": pl.Float64,
                "p_with_coupon": pl.Float64,
                "p_without_coupon": pl.Float64,
                "true_uplift": pl.Float64,
            },
        ).sort("campaign_id", "customer_id")

    def _customer_truth(self) -> pl.DataFrame:
        c, start = self.cust, np.datetime64(self.cfg.start_date, "D")
        return (
            pl.DataFrame(
                {
                    "customer_id": self.customer_id,
                    "archetype": np.array(ARCHETYPES)[c.archetype],
                    "visit_rate": c.visit_rate.astype(np.float64),
                    "purchase_rate": (c.visit_rate * c.p_view * c.p_cart * c.p_buy).astype(
                        np.float64
                    ),
                    "signup_date": start + c.signup_day,
                    "dropout_date": start + c.dropout_day,
                    "alive_at_end": c.dropout_day >= self.cfg.days,
                    "value_mu": c.value_mu,
                    "value_sigma": c.value_sigma,
                    "expected_order_value": np.exp(c.value_mu + c.value_sigma**2 / 2),
                    "preferred_category": np.array(CAT_NAMES)[c.pref_cat],
                    "episode_days": self.loop.episode_grid.sum(axis=1).astype(np.int64),
                }
            )
            .with_columns(pl.col("signup_date", "dropout_date").cast(pl.Date))
            .sort("customer_id")
        )

    def _shopping_episodes(self) -> pl.DataFrame:
        """One row per shopping episode: customer, first and last day (inclusive)."""
        grid = self.loop.episode_grid
        edges = np.diff(grid.astype(np.int8), axis=1, prepend=0, append=0)
        si, sd = np.nonzero(edges == 1)
        ei, ed = np.nonzero(edges == -1)  # both come out in (customer, day) order
        start = np.datetime64(self.cfg.start_date, "D")
        return (
            pl.DataFrame(
                {
                    "customer_id": self.customer_id[si],
                    "start_date": start + sd,
                    "end_date": start + ed - 1,
                }
            )
            .with_columns(pl.col("start_date", "end_date").cast(pl.Date))
            .sort("customer_id", "start_date")
        )

    def _daily(self) -> pl.DataFrame:
        cal = self.cal
        counts = pl.concat(self.daily_parts)
        out = pl.DataFrame(
            {
                "d": np.arange(self.cfg.days),
                "date": np.array(cal.dates, dtype="datetime64[D]"),
                "day_of_week": cal.dow.astype(np.int64),
                "dow_index": cal.dow_mult.astype(np.float64),
                "holiday_multiplier": cal.holiday_mult.astype(np.float64),
                "expected_visits_no_marketing": self.expected_visits,
                "customers_in_episode": self.episode_grid.sum(axis=0).astype(np.int64),
            }
        ).with_columns(pl.col("date").cast(pl.Date))
        sessions = pl.DataFrame(
            {
                "d": np.arange(self.cfg.days),
                "factual_sessions": self.factual_sessions.astype(np.uint32),
            }
        ).filter(pl.col("factual_sessions") > 0)
        out = out.join(sessions, on="d", how="left")
        for s, name in enumerate(self.loop.scenarios):
            if name in ("factual", "no_marketing"):
                part = counts.filter(pl.col("s") == s).select(
                    "d",
                    pl.col("orders").alias(f"{name}_orders"),
                    pl.col("revenue").alias(f"{name}_revenue"),
                )
                out = out.join(part, on="d", how="left")
        return out.fill_null(0).sort("d").drop("d")


def _write_table(df: pl.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        # Fixed options so the same world gives the same bytes.
        df.write_parquet(
            path, compression="zstd", compression_level=3, statistics=True, row_group_size=500_000
        )
    elif fmt == "csv":
        ts_cols = [n for n, t in df.schema.items() if isinstance(t, pl.Datetime)]
        df.with_columns(pl.col(ts_cols).dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(path)
    else:
        raise ValueError(f"unknown format {fmt!r}: use parquet or csv")


def write_world(world: World, out_dir: str | Path, fmt: str = "parquet") -> Path:
    """Write ``<out_dir>/<table>.<fmt>``, ``truth/<name>.parquet`` and ``truth/manifest.json``."""
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    for name, df in world.tables.items():
        _write_table(df, out / f"{name}.{fmt}", fmt)
    for name, df in world.later_files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        _write_table(df, out / f"{name}.{fmt}", fmt)
    for name, df in world.truth.items():
        _write_table(df, out / "truth" / f"{name}.parquet", "parquet")
    manifest = dict(world.manifest, format=fmt)
    (out / "truth" / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    )
    return out
