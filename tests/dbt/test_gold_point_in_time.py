"""Daily feature snapshots never use data from after their date: build a world, keep every feature
row dated up to D, append orders, sessions, events, order lines, touches, a new customer and
profile changes (an opt-out, a move, a consent change without updated_at) all dated after D (as
new raw files), rebuild, and the rows up to D must be identical while the changes show after D
and in the current state."""

from __future__ import annotations

import csv
import shutil
from datetime import date
from pathlib import Path

import polars as pl

from dagster_project.lib.contract import tables
from tests.conftest import DbtRun, build_warehouse, query

D = date(2025, 3, 20)  # the simulated world runs 2025-03-01 .. 2025-04-09
FEATURE_TABLES = {
    "feat_customer__daily": "customer_id",
    "feat_product__daily": "product_id",
    "feat_seller__daily": "seller_id",
}


def snapshot(duckdb_path: Path, table: str, key: str) -> list[tuple]:
    # created_timestamp is when the row was computed, so it differs between builds by design
    return query(
        duckdb_path,
        f"select * exclude (created_timestamp) from gold.{table}"
        f" where snapshot_date <= ? order by {key}, snapshot_date",
        [D],
    )


def append_later_data(raw: Path) -> dict[str, int]:
    """Write new raw files (contract columns) dated after D; returns the row counts per table."""
    # Customers already active by D, so a leak would show in their rows up to D: two whose every
    # order is before D, one who visited before D but never ordered, and a new customer.
    end_of_d = pl.datetime(D.year, D.month, D.day, 15, time_zone="UTC")  # 00:00 next day in Seoul
    orders = pl.read_parquet(raw / "orders.parquet")
    sessions = pl.read_parquet(raw / "sessions.parquet")
    early_buyers = (
        orders.group_by("customer_id")
        .agg(pl.col("ordered_at").max())
        .filter(pl.col("ordered_at") < end_of_d)["customer_id"]
        .sort()
        .head(2)
        .to_list()
    )
    visitors = (
        sessions.filter(pl.col("started_at") < end_of_d)
        .join(orders, on="customer_id", how="anti")["customer_id"]
        .unique()
        .sort()
        .head(1)
        .to_list()
    )
    assert len(early_buyers) == 2 and len(visitors) == 1
    buyers = [*early_buyers, *visitors, "NEW1"]
    product = pl.read_parquet(raw / "products.parquet").sort("product_id")["product_id"][0]
    campaign = pl.read_parquet(raw / "campaigns.parquet").sort("campaign_id")["campaign_id"][0]

    rows: dict[str, list[dict]] = {
        "customers": [
            dict(
                customer_id="NEW1",
                signed_up_at="2025-03-24T02:00:00Z",
                gender="F",
                birth_year=1995,
                region="seoul",
                marketing_opt_in="true",
                night_opt_in="false",
                acquisition_channel="search_ads",
            )
        ],
    }
    rows["customers"] += profile_changes(raw)
    for i, customer in enumerate(buyers):
        at = f"2025-03-{25 + i:02d}T03:%s:00Z"
        session, order = f"LATE_S{i}", f"LATE_O{i}"
        rows.setdefault("sessions", []).append(
            dict(
                session_id=session,
                customer_id=customer,
                started_at=at % "00",
                ended_at=at % "20",
                device="ios",
                region="seoul",
                utm_source="naver",
                utm_medium="cpc",
                utm_campaign=campaign,
                page_views=5,
                search_count=2,
            )
        )
        rows.setdefault("events", []).extend(
            dict(
                event_id=f"LATE_E{i}{kind}",
                session_id=session,
                customer_id=customer,
                occurred_at=at % minute,
                event_type=kind,
                product_id=item,
                search_query=search,
            )
            for kind, minute, item, search in [
                ("view", "05", product, None),
                ("add_to_cart", "06", product, None),
                ("search", "07", None, "winter coat"),
            ]
        )
        rows.setdefault("orders", []).append(
            dict(
                order_id=order,
                customer_id=customer,
                ordered_at=at % "10",
                order_amount=50000,
                session_id=session,
            )
        )
        rows.setdefault("order_items", []).append(
            dict(order_id=order, product_id=product, quantity=2, unit_price=25000)
        )
        rows.setdefault("marketing_touches", []).append(
            dict(
                touch_id=f"LATE_T{i}",
                customer_id=customer,
                occurred_at=at % "01",
                channel="search_ads",
                campaign_id=campaign,
                touch_type="impression",
            )
        )
    for table, table_rows in rows.items():
        (raw / table).mkdir(exist_ok=True)
        with (raw / table / "after_d.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, tables()[table].column_names, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(table_rows)
    return {table: len(table_rows) for table, table_rows in rows.items()}


# Customers signed up and opted in before D: the first opts out on 2025-03-26, the second moves
# on 2025-03-27 (updated_at given), the third gives night consent in a file without updated_at
# (its time is the file's load time, after the whole window), the fourth is re-exported unchanged.
CHANGES = {"opt_out": "2025-03-26T00:00:00Z", "move": "2025-03-27T00:00:00Z"}


def changed_customers(raw: Path) -> dict[str, dict]:
    """The base rows (as contract text) of the four customers whose profile changes after D."""
    simulated_changes = pl.read_parquet(raw / "customers" / "profile_changes.parquet")
    base = (
        pl.read_parquet(raw / "customers.parquet")
        .join(simulated_changes, on="customer_id", how="anti")
        .filter(
            pl.col("marketing_opt_in"),
            ~pl.col("night_opt_in"),
            pl.col("signed_up_at") < pl.datetime(D.year, D.month, 1, time_zone="UTC"),
        )
        .sort("customer_id")
        .head(4)
        .with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .with_columns(pl.col(pl.Boolean).cast(pl.String))
    )
    assert base.height == 4
    return dict(zip(["opt_out", "move", "night", "same"], base.to_dicts(), strict=True))


def profile_changes(raw: Path) -> list[dict]:
    c = changed_customers(raw)
    moved_to = "jeju" if c["move"]["region"] != "jeju" else "seoul"
    return [
        {**c["opt_out"], "marketing_opt_in": "false", "updated_at": CHANGES["opt_out"]},
        {**c["move"], "region": moved_to, "updated_at": CHANGES["move"]},
        {**c["night"], "night_opt_in": "true", "updated_at": None},
        c["same"],
    ]


def test_world_builds_and_passes_every_test(world: DbtRun) -> None:
    world.assert_ok()


def test_feature_rows_up_to_d_ignore_later_data(world: DbtRun, tmp_path: Path) -> None:
    world.assert_ok()
    raw = tmp_path / "raw"
    shutil.copytree(world.raw_dir, raw)
    duckdb_path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(world.duckdb_path, duckdb_path)
    before = {t: snapshot(duckdb_path, t, key) for t, key in FEATURE_TABLES.items()}
    assert all(before.values()), {t: len(rows) for t, rows in before.items()}

    appended = append_later_data(raw)
    build_warehouse(raw, duckdb_path).assert_ok()

    # the later data went in (nothing quarantined) and reached the features after D
    assert query(duckdb_path, "select count(*) from bronze.quarantine") == [(0,)]
    late_orders = query(
        duckdb_path, "select count(*) from silver.int_orders__enriched where order_id like 'LATE_%'"
    )
    assert late_orders == [(appended["orders"],)]
    new_customer = query(
        duckdb_path,
        "select min(snapshot_date)::varchar, max(orders_to_date)"
        " from gold.feat_customer__daily where customer_id = 'NEW1'",
    )
    assert new_customer == [("2025-03-24", 1)]

    # each profile change is a new version, the unchanged re-export is not; audiences see the
    # current state, feature rows the state of their date
    changed = {k: v["customer_id"] for k, v in changed_customers(raw).items()}
    versions = dict(
        query(
            duckdb_path,
            "select customer_id, count(*) from silver.int_customers__history"
            " where list_contains(?, customer_id) group by all",
            [list(changed.values())],
        )
    )
    assert versions == {
        changed["opt_out"]: 2,
        changed["move"]: 2,
        changed["night"]: 2,
        changed["same"]: 1,
    }
    current = {
        r[0]: r[1:]
        for r in query(
            duckdb_path,
            "select customer_id, has_marketing_consent, has_night_consent, region"
            " from gold.dim_customers where list_contains(?, customer_id)",
            [list(changed.values())],
        )
    }
    assert current[changed["opt_out"]][0] is False
    assert current[changed["night"]][1] is True
    moved_to = profile_changes(raw)[1]["region"]
    assert current[changed["move"]][2] == moved_to
    daily = pl.DataFrame(
        query(
            duckdb_path,
            "select customer_id, snapshot_date, has_marketing_consent, has_night_consent, region"
            " from gold.feat_customer__daily"
            " where list_contains(?, customer_id) and snapshot_date > ?",
            [list(changed.values()), D],
        ),
        schema=["customer_id", "snapshot_date", "consent", "night", "region"],
        orient="row",
    )
    opt_out = daily.filter(pl.col("customer_id") == changed["opt_out"])
    assert opt_out.filter(pl.col("snapshot_date") < date(2025, 3, 26))["consent"].all()
    assert not opt_out.filter(pl.col("snapshot_date") >= date(2025, 3, 26))["consent"].any()
    move = daily.filter(pl.col("customer_id") == changed["move"])
    assert (move.filter(pl.col("snapshot_date") >= date(2025, 3, 27))["region"] == moved_to).all()
    assert (move.filter(pl.col("snapshot_date") < date(2025, 3, 27))["region"] != moved_to).all()
    # loaded today, so no snapshot of the simulated window knows of it yet
    assert not daily.filter(pl.col("customer_id") == changed["night"])["night"].any()

    after = {t: snapshot(duckdb_path, t, key) for t, key in FEATURE_TABLES.items()}
    for table in FEATURE_TABLES:
        changed = set(before[table]) ^ set(after[table])
        assert not changed, (
            f"{table}: {len(changed)} rows up to {D} changed, e.g. {sorted(changed)[:2]}"
        )
