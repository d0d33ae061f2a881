"""The minimal dataset: orders alone (customer_id, ordered_at, order_amount). Reading and checking
a user's file, labels over a horizon, and RFM-style features as of any cutoff, computed only from
orders strictly before it (vectorized: one cross join of orders and cutoffs, then group by)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl

from dagster_project.lib import contract

ORDER_COLUMNS = ("customer_id", "ordered_at", "order_amount")
CUTOFF = "event_timestamp"  # the as-of time of an example, as Feast names it
DAY_US = 86_400_000_000
SEPARATORS = (",", ";", "\t", "|")

# Features the orders-only path computes; the names match Feast's customer_behaviour view where
# the meaning is the same, so the baselines read either.
ORDER_FEATURES = [
    "orders_to_date",
    "revenue_to_date_krw",
    "avg_order_value_krw",
    "max_order_value_krw",
    "days_since_last_order",
    "days_since_first_order",
    "order_days_to_date",
    "mean_days_between_orders",
    "orders_30d",
    "orders_90d",
    "orders_180d",
    "revenue_30d_krw",
    "revenue_90d_krw",
    "revenue_180d_krw",
]


class OrdersFileError(ValueError):
    """An orders file that breaks the minimal contract: names the file, the row and the rule."""


def _read_csv(path: Path) -> pl.DataFrame:
    """A CSV as strings, with the separator its header uses (comma, semicolon, tab or bar, as
    ingestion detects); an empty file or a row with the wrong number of fields is an error naming
    the file (and the line)."""
    with path.open(encoding="utf-8", errors="replace") as file:
        header = file.readline().lstrip("\ufeff").strip()
    if not header:
        raise OrdersFileError(
            f"{path}: the file is empty (expected a header row {','.join(ORDER_COLUMNS)})"
        )
    separator = max(SEPARATORS, key=lambda sep: len(_names(header, sep) & set(ORDER_COLUMNS)))
    try:
        return pl.read_csv(path, infer_schema=False, separator=separator)
    except pl.exceptions.ComputeError as err:
        raise OrdersFileError(
            f"{path}: {_ragged_line(path, separator, len(header.split(separator))) or err}"
        ) from err


def _names(header: str, separator: str) -> set[str]:
    return {name.strip().strip('"') for name in header.split(separator)}


def _ragged_line(path: Path, separator: str, fields: int) -> str | None:
    """Where a CSV has a row with another number of fields than its header's ``fields``
    (DuckDB's strict reader names the line; Polars does not)."""
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(fields))
    try:
        duckdb.execute(
            f"select * from read_csv(?, delim = ?, quote = '\"', header = true, "
            f"auto_detect = false, strict_mode = true, columns = {{{columns}}})",
            [str(path), separator],
        ).fetchall()
    except duckdb.Error as err:
        lines = str(err).splitlines()
        line = next((x for x in lines if "CSV Error on Line" in x), "")
        found = next((x for x in lines if x.startswith("Expected Number of Columns")), "")
        if line and found:
            return f"line {line.rsplit(':', 1)[1].strip()}: {found.lower()}"
    return None


def read_orders(path: str | Path) -> pl.DataFrame:
    """An orders CSV or Parquet file as customer_id (string), ordered_at (naive UTC; an ISO
    offset is converted), order_amount_krw (float). Rows are numbered from 1 (CSV: the first line
    after the header). Any row with a missing id, an unreadable time or amount, or a negative
    amount stops with an error naming the file, the row and the rule: nothing is dropped."""
    path = Path(path)
    if not path.exists():
        raise OrdersFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = _read_csv(path)
    elif suffix in (".parquet", ".pq"):
        raw = pl.read_parquet(path)
    else:
        raise OrdersFileError(f"{path}: expected a .csv or .parquet file")
    missing = [c for c in ORDER_COLUMNS if c not in raw.columns]
    if missing:
        raise OrdersFileError(f"{path}: missing required column(s) {', '.join(missing)}")
    if raw.is_empty():
        raise OrdersFileError(f"{path}: no order rows (only a header)")
    frame = raw.select(ORDER_COLUMNS).with_row_index("row", offset=1)

    ts = pl.col("ordered_at")
    if frame.schema["ordered_at"] == pl.String:
        text = ts.str.strip_chars()
        parsed = pl.coalesce(
            text.str.to_datetime(time_zone="UTC", strict=False, time_unit="us"),
            text.str.to_datetime("%Y-%m-%d", strict=False, time_unit="us").dt.replace_time_zone(
                "UTC"
            ),
            text.str.to_datetime("%Y%m%d", strict=False, time_unit="us").dt.replace_time_zone(
                "UTC"
            ),
        ).dt.replace_time_zone(None)
    elif isinstance(frame.schema["ordered_at"], pl.Datetime):
        tz = frame.schema["ordered_at"].time_zone  # type: ignore[union-attr]
        parsed = (ts.dt.convert_time_zone("UTC").dt.replace_time_zone(None) if tz else ts).cast(
            pl.Datetime("us")
        )
    elif frame.schema["ordered_at"] == pl.Date:
        parsed = ts.cast(pl.Datetime("us"))
    else:
        raise OrdersFileError(f"{path}: ordered_at has type {frame.schema['ordered_at']}")
    amount = pl.col("order_amount")
    if frame.schema["order_amount"] == pl.String:
        amount = amount.str.strip_chars().cast(pl.Float64, strict=False)
    out = frame.with_columns(
        pl.col("customer_id").cast(pl.String).str.strip_chars().alias("customer_id"),
        parsed.alias("ordered_at_parsed"),
        amount.cast(pl.Float64, strict=False).alias("order_amount_krw"),
    )
    rules = [
        (
            pl.col("customer_id").is_null() | (pl.col("customer_id") == ""),
            "customer_id is required",
        ),
        (pl.col("ordered_at_parsed").is_null(), "ordered_at must be a timestamp or date"),
        (pl.col("order_amount_krw").is_null(), "order_amount must be a number"),
        (~pl.col("order_amount_krw").is_finite(), "order_amount must be a finite number"),
        (pl.col("order_amount_krw") < 0, "order_amount must be >= 0"),
        (
            pl.col("order_amount_krw") > contract.money_max(),
            f"order_amount must be at most {contract.money_max():g} (contract_money_max)",
        ),
    ]
    for broken, rule in rules:
        bad = out.filter(broken)
        if bad.height:
            first = bad.row(0, named=True)
            raise OrdersFileError(
                f"{path}: row {first['row']}: {rule} (got ordered_at={first['ordered_at']!r}, "
                f"order_amount={first['order_amount']!r}); {bad.height} row(s) break this rule"
            )
    return out.select(
        "customer_id",
        pl.col("ordered_at_parsed").alias("ordered_at"),
        "order_amount_krw",
    ).sort("ordered_at", "customer_id")


def _cutoff_frame(cutoffs: Sequence[datetime]) -> pl.DataFrame:
    return pl.DataFrame({CUTOFF: list(cutoffs)}, schema={CUTOFF: pl.Datetime("us")})


def orders_features(
    orders: pl.DataFrame, cutoffs: Sequence[datetime], customers: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One row per customer with at least one order before the cutoff (or per given customer,
    with zeros and nulls for no orders), per cutoff: RFM-style features from orders with
    ``ordered_at < cutoff`` only. ``days_*`` are whole days before the cutoff."""
    before = (
        orders.lazy()
        .join(_cutoff_frame(cutoffs).lazy(), how="cross")
        .filter(pl.col("ordered_at") < pl.col(CUTOFF))
        .with_columns(
            ((pl.col(CUTOFF) - pl.col("ordered_at")).dt.total_microseconds() / DAY_US).alias(
                "age_days"
            )
        )
    )
    amount = pl.col("order_amount_krw")
    age = pl.col("age_days")
    feats = before.group_by("customer_id", CUTOFF).agg(
        pl.len().cast(pl.Int32).alias("orders_to_date"),
        amount.sum().alias("revenue_to_date_krw"),
        amount.mean().alias("avg_order_value_krw"),
        amount.max().alias("max_order_value_krw"),
        age.min().floor().cast(pl.Int32).alias("days_since_last_order"),
        age.max().floor().cast(pl.Int32).alias("days_since_first_order"),
        pl.col("ordered_at").dt.date().n_unique().cast(pl.Int32).alias("order_days_to_date"),
        *[(age < days).sum().cast(pl.Int32).alias(f"orders_{days}d") for days in (30, 90, 180)],
        *[amount.filter(age < days).sum().alias(f"revenue_{days}d_krw") for days in (30, 90, 180)],
    )
    feats = feats.with_columns(
        pl.when(pl.col("order_days_to_date") > 1)
        .then(
            (pl.col("days_since_first_order") - pl.col("days_since_last_order"))
            / (pl.col("order_days_to_date") - 1)
        )
        .otherwise(None)
        .cast(pl.Float64)
        .alias("mean_days_between_orders")
    )
    if customers is not None:
        grid = (
            customers.select("customer_id")
            .unique()
            .lazy()
            .join(_cutoff_frame(cutoffs).lazy(), how="cross")
        )
        feats = grid.join(feats, on=["customer_id", CUTOFF], how="left").with_columns(
            pl.col(c).fill_null(0)
            for c in ORDER_FEATURES
            if c.startswith(("orders_", "revenue_", "order_days"))
        )
    return (
        feats.select("customer_id", CUTOFF, *ORDER_FEATURES).sort(CUTOFF, "customer_id").collect()
    )


def label_orders(entities: pl.DataFrame, orders: pl.DataFrame, horizon_days: int) -> pl.DataFrame:
    """``entities`` (customer_id, event_timestamp) with ``label_bought`` (0/1),
    ``label_orders`` and ``label_spend_krw``: orders with cutoff <= ordered_at < cutoff + H days
    (the H days from the cutoff on; features see only orders before the cutoff).

    A buyer is a customer who spent more than 0 KRW in the window: a 0-KRW order (a free
    replacement, a fully discounted order) is not a purchase here. So the purchase label and
    the ZILN model's spend part (fitted on buyers' log spend) agree on who bought."""
    horizon = timedelta(days=horizon_days)
    window = (
        entities.lazy()
        .select("customer_id", CUTOFF)
        .unique()
        .join(
            orders.lazy().select("customer_id", "ordered_at", "order_amount_krw"), on="customer_id"
        )
        .filter(
            (pl.col("ordered_at") >= pl.col(CUTOFF))
            & (pl.col("ordered_at") < pl.col(CUTOFF) + horizon)
            & (pl.col("order_amount_krw") > 0)
        )
        .group_by("customer_id", CUTOFF)
        .agg(
            pl.len().cast(pl.Int32).alias("label_orders"),
            pl.col("order_amount_krw").sum().alias("label_spend_krw"),
        )
    )
    return (
        entities.lazy()
        .join(window, on=["customer_id", CUTOFF], how="left", maintain_order="left")
        .with_columns(
            pl.col("label_orders").fill_null(0),
            pl.col("label_spend_krw").fill_null(0.0),
        )
        .with_columns((pl.col("label_orders") > 0).cast(pl.Int8).alias("label_bought"))
        .collect()
    )
