"""The marketplace simulator: contract-exact tables, determinism, and the planted truths
(day of week, holidays, funnel, zero-inflated value, channel effects, CRM design) visible in the
data it writes."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from dagster_project.lib.contract import tables as contract_tables
from dagster_project.lib.simulate import WorldConfig, simulate, write_world
from dagster_project.lib.simulate.params import CHANNELS, PAID_CHANNELS, LiftStudy
from dagster_project.lib.simulate.world import DTYPES, build_entities

CFG = WorldConfig(customers=2_000, days=90, seed=11, start_date=date(2025, 4, 1))
ZERO = {"display", "email"}
POSITIVE = {"search_ads", "social", "affiliate", "retargeting", "kakaotalk"}
NEGATIVE = {"app_push"}


@pytest.fixture(scope="module")
def world():
    return simulate(CFG)


@pytest.fixture(scope="module")
def t(world):
    return world.tables


def kst(col: str) -> pl.Expr:
    return pl.col(col).dt.convert_time_zone("Asia/Seoul")


# Optional tables a world writes only when configured (WorldConfig.lift_studies and
# price_drop_share).
LIFT_TABLES = ("lift_study_assignments", "lift_study_ghost_impressions")
OPTIONAL_TABLES = (*LIFT_TABLES, "product_prices")


def test_tables_match_the_contract_exactly(t):
    spec = {k: v for k, v in contract_tables().items() if k not in OPTIONAL_TABLES}
    assert list(t) == list(spec)
    _contract_exact(t, spec)


def _contract_exact(t, spec) -> None:
    for name, table in spec.items():
        df = t[name]
        assert df.columns == table.column_names, name
        assert dict(df.schema) == {c.name: DTYPES[c.data_type] for c in table.columns}, name
        assert df.height > 0, name
        for col in table.columns:
            if col.required:
                assert df[col.name].null_count() == 0, (name, col.name)
            if "accepted" in col.rules:
                assert set(df[col.name].drop_nulls().unique()) <= set(col.rules["accepted"]), (
                    name,
                    col.name,
                )
            if "min" in col.rules:
                assert df[col.name].drop_nulls().min() >= col.rules["min"], (name, col.name)
            if "max" in col.rules:
                assert df[col.name].drop_nulls().max() <= col.rules["max"], (name, col.name)
            if "not_before" in col.rules:
                bad = df.filter(pl.col(col.name) < pl.col(col.rules["not_before"]))
                assert bad.height == 0, (name, col.name)


def test_keys_unique_and_references_resolve(t):
    for name, table in contract_tables().items():
        if name in OPTIONAL_TABLES:  # not written unless configured
            continue
        df = t[name]
        assert df.select(table.key).is_duplicated().sum() == 0, name
        for col in table.columns:
            ref = col.rules.get("references")
            if ref:
                ref_table, ref_col = ref.split(".")
                values = df[col.name].drop_nulls()
                assert values.is_in(t[ref_table][ref_col].implode()).all(), (name, col.name)


def test_product_events_reference_products_listed_before(t):
    ev = (
        t["events"]
        .filter(pl.col("product_id").is_not_null())
        .join(t["products"].select("product_id", "created_at"), on="product_id")
    )
    assert ev.height > 0
    assert (ev["created_at"] < ev["occurred_at"]).all()
    assert (
        t["events"]
        .filter(pl.col("event_type").is_in(["view", "bookmark", "add_to_cart", "purchase"]))[
            "product_id"
        ]
        .null_count()
        == 0
    )


def test_nothing_happens_before_its_actor_exists(t):
    signed = t["customers"].select("customer_id", "signed_up_at")
    for name, col in (
        ("sessions", "started_at"),
        ("events", "occurred_at"),
        ("orders", "ordered_at"),
    ):
        df = t[name].join(signed, on="customer_id")
        assert (df[col] > df["signed_up_at"]).all(), name
    p = t["products"].join(t["sellers"], on="seller_id")
    assert (p["created_at"] > p["joined_at"]).all()


def test_timestamps_in_window_and_not_in_the_future(t):
    end = datetime.combine(CFG.end_date, datetime.min.time(), UTC) + timedelta(days=1)
    now = datetime.now(UTC)
    for name, df in t.items():
        for col, dtype in df.schema.items():
            if isinstance(dtype, pl.Datetime):
                assert dtype.time_zone == "UTC"
                mx = df[col].max()
                assert mx is None or (mx < end and mx < now), (name, col)
    start = datetime.combine(CFG.start_date, datetime.min.time(), UTC) - timedelta(hours=10)
    assert t["sessions"]["started_at"].min() >= start
    assert t["customers"]["signed_up_at"].min() < start  # some signed up before the window


def test_same_seed_same_bytes_other_seed_differs(world, tmp_path):
    again = simulate(CFG)
    other = simulate(WorldConfig(customers=CFG.customers, days=CFG.days, seed=CFG.seed + 1))
    a, b, c = (write_world(w, tmp_path / n) for w, n in ((world, "a"), (again, "b"), (other, "c")))
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert (
        len(files) == 13 + 22 + 1
    )  # tables (weather incl.), truth (incl. messaging_*), profile_changes
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "orders.parquet").read_bytes() != (c / "orders.parquet").read_bytes()
    assert not world.tables["sessions"].equals(other.tables["sessions"])
    manifest = json.loads((a / "truth" / "manifest.json").read_text())
    assert manifest["config"]["seed"] == CFG.seed
    assert manifest["row_counts"] == {k: v.height for k, v in world.tables.items()}


def test_profile_changes_are_later_versions_of_known_customers(world):
    changes = world.later_files["customers/profile_changes"]
    base = world.tables["customers"]
    joined = changes.join(base, on="customer_id", suffix="_before")
    assert joined.height == changes.height > 0 and changes["customer_id"].is_unique().all()
    start = datetime.combine(CFG.start_date, datetime.min.time(), UTC) - timedelta(hours=9)
    end = start + timedelta(days=CFG.days)  # the window in Seoul time, as UTC
    assert (joined["updated_at"] > joined["signed_up_at"]).all()
    assert joined["updated_at"].is_between(start, end, closed="left").all()
    opt_outs = joined.filter(pl.col("marketing_opt_in_before") & ~pl.col("marketing_opt_in"))
    moves = joined.filter(pl.col("region") != pl.col("region_before"))
    assert opt_outs.height > 0 and moves.height > 0
    assert opt_outs.height + moves.height >= changes.height
    assert not opt_outs["night_opt_in"].any()


def test_csv_timestamps_are_iso_utc(world, tmp_path):
    out = write_world(world, tmp_path, fmt="csv")
    head = (out / "sessions.csv").read_text().splitlines()[:2]
    started = head[1].split(",")[2]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", started)
    back = pl.read_csv(out / "orders.csv", try_parse_dates=True)
    assert back.height == world.tables["orders"].height
    assert back["ordered_at"].dtype == pl.Datetime("us", "UTC")


def _daily_sessions(t) -> pl.DataFrame:
    """Sessions per business day over customers signed up by then (removes the growth trend)."""
    days = pl.DataFrame(
        {"date": pl.date_range(CFG.start_date, CFG.end_date - timedelta(days=1), eager=True)}
    )
    sess = t["sessions"].group_by(date=kst("started_at").dt.date()).agg(n=pl.len())
    signed = t["customers"].select(date=kst("signed_up_at").dt.date())
    days = (
        days.join(sess, on="date", how="left")
        .fill_null(0)
        .with_columns(
            signed=pl.col("date").map_batches(
                lambda d: pl.Series(
                    np.searchsorted(np.sort(signed["date"].to_numpy()), d.to_numpy(), side="right")
                )
            ),
            dow=pl.col("date").dt.weekday() - 1,
        )
    )
    return days.with_columns(rate=pl.col("n") / pl.col("signed"))


def test_day_of_week_effect_is_visible(world, t):
    truth = world.truth["seasonality"].sort("day_of_week")["index"].to_numpy()
    hol = set(world.truth["holidays"]["date"])
    days = _daily_sessions(t).filter(~pl.col("date").is_in(list(hol)))
    by_dow = days.group_by("dow").agg(pl.col("rate").mean()).sort("dow")["rate"].to_numpy()
    assert np.corrcoef(by_dow, truth)[0, 1] > 0.7
    assert by_dow.argmax() == truth.argmax()  # Sunday


def test_holiday_effect_is_visible(world, t):
    hol = world.truth["holidays"]
    assert hol.height > 0 and set(hol["multiplier"]) == {1.3}  # May-July: no family holidays
    days = _daily_sessions(t)
    # Compare each holiday with the same weekday in the surrounding weeks.
    ratios = []
    for d in hol["date"]:
        same = days.filter(
            pl.col("dow") == d.weekday(),
            pl.col("date") != d,
            (pl.col("date") - d).abs() <= timedelta(days=21),
            ~pl.col("date").is_in(hol["date"].implode()),
        )
        ratios.append(days.filter(pl.col("date") == d)["rate"].item() / same["rate"].mean())
    assert np.exp(np.mean(np.log(ratios))) > 1.1


def test_funnel_is_monotone_and_sessions_match_events(t):
    ev = t["events"]
    per = ev.group_by("session_id").agg(
        views=(pl.col("event_type") == "view").sum(),
        searches=(pl.col("event_type") == "search").sum(),
        carts=(pl.col("event_type") == "add_to_cart").sum(),
        buys=(pl.col("event_type") == "purchase").sum(),
        opens=(pl.col("event_type") == "app_open").sum(),
        first=pl.col("event_type").sort_by("occurred_at").first(),
    )
    assert per.height == t["sessions"].height
    assert (per["opens"] == 1).all() and (per["first"] == "app_open").all()
    with_view, with_cart, with_buy = ((per[c] > 0).sum() for c in ("views", "carts", "buys"))
    assert with_view >= with_cart >= with_buy > 0
    assert per.filter(pl.col("buys") > 0, pl.col("carts") == 0).height == 0
    assert per.filter(pl.col("carts") > 0, pl.col("views") == 0).height == 0
    s = t["sessions"].join(per, on="session_id")
    assert (s["page_views"] == s["views"]).all() and (s["search_count"] == s["searches"]).all()
    assert t["orders"].height == with_buy
    # events inside their session, ids follow time
    e = ev.join(t["sessions"].select("session_id", "started_at", "ended_at"), on="session_id")
    assert ((e["occurred_at"] >= e["started_at"]) & (e["occurred_at"] <= e["ended_at"])).all()
    assert ev["occurred_at"].is_sorted()
    assert 4 < ev.height / t["sessions"].height < 10


def test_order_amount_is_items_minus_coupon(t):
    items = (
        t["order_items"]
        .group_by("order_id")
        .agg(gross=(pl.col("quantity") * pl.col("unit_price")).sum(), lines=pl.len())
    )
    o = t["orders"].join(items, on="order_id").join(t["coupons"], on="coupon_id", how="left")
    assert o.height == t["orders"].height
    assert o["lines"].is_between(1, 3).all()
    discount = (
        pl.when(pl.col("coupon_id").is_null())
        .then(0.0)
        .when(pl.col("discount_type") == "percent")
        .then((pl.col("gross") * pl.col("discount_value") / 100).floor())
        .otherwise(pl.min_horizontal("gross", "discount_value"))
    )
    o = o.with_columns(expected=pl.col("gross") - discount)
    assert (o["order_amount"] - o["expected"]).abs().max() < 1e-6
    used = o.filter(pl.col("coupon_id").is_not_null())
    assert used.height > 0 and (used["gross"] >= used["min_order_amount"]).all()
    assert used.select("customer_id", "coupon_id").is_duplicated().sum() == 0
    price = t["order_items"].join(t["products"], on="product_id")
    assert (price["unit_price"] == price["price"]).all()


def test_order_session_link(t):
    o = t["orders"].join(t["sessions"], on="session_id", suffix="_s")
    assert (o["customer_id"] == o["customer_id_s"]).all()
    assert ((o["ordered_at"] >= o["started_at"]) & (o["ordered_at"] <= o["ended_at"])).all()


def test_future_value_is_zero_inflated_lognormal(t):
    end = datetime.combine(CFG.end_date, datetime.min.time(), UTC) - timedelta(hours=9)
    cut = end - timedelta(days=30)
    spend = (
        t["orders"]
        .filter(pl.col("ordered_at") >= cut)
        .group_by("customer_id")
        .agg(v=pl.col("order_amount").sum())
    )
    base = (
        t["customers"]
        .filter(pl.col("signed_up_at") < cut)
        .join(spend, on="customer_id", how="left")
        .fill_null(0)
    )
    assert (base["v"] == 0).mean() > 0.7
    pos = np.log(base.filter(pl.col("v") > 0)["v"].to_numpy())
    assert pos.size > 50
    z = (pos - pos.mean()) / pos.std()
    assert abs(np.mean(z**3)) < 0.8 and 2.0 < np.mean(z**4) < 4.5


def test_channel_effects_truth(world):
    ce = world.truth["channel_effects"]
    assert ce["channel"].to_list() == list(CHANNELS)
    assert set(CHANNELS) == ZERO | POSITIVE | NEGATIVE
    inc = dict(zip(ce["channel"], ce["incremental_orders"], strict=True))
    rev = dict(zip(ce["channel"], ce["incremental_revenue"], strict=True))
    for ch in ZERO:
        assert inc[ch] == 0 and rev[ch] == 0.0, ch
    for ch in POSITIVE:
        assert inc[ch] > 0, ch
    for ch in NEGATIVE:
        assert inc[ch] < 0, ch
    zero_flags = dict(zip(ce["channel"], ce["is_zero_effect"], strict=True))
    assert {c for c, z in zero_flags.items() if z} == ZERO
    row = ce.row(0, named=True)
    assert row["factual_orders"] == world.tables["orders"].height
    assert row["baseline_orders"] < row["factual_orders"]
    assert row["factual_revenue"] == pytest.approx(world.tables["orders"]["order_amount"].sum())


def test_campaign_uplift_truth(world, t):
    cu = world.truth["campaign_uplift"]
    assert cu["campaign_id"].to_list() == t["campaigns"]["campaign_id"].to_list()
    neg = cu.filter("is_negative")
    assert neg.height == 1 and neg["channel"].item() == "app_push" and neg["is_night_send"].item()
    assert neg["true_uplift"].item() < 0
    assert (cu.filter("is_zero_effect", pl.col("touched") > 0)["true_uplift"] == 0).all()
    assert (cu.filter(pl.col("lift") > 0, pl.col("touched") > 0)["true_uplift"] > 0).all()
    assert cu.filter("is_zero_effect").height > 0
    assert set(cu.filter("is_zero_effect")["channel"]) >= ZERO


def test_coupon_effects_truth_is_heterogeneous_and_exact(world):
    """Coupon response kinds: sure things and lost causes are not moved at all (exactly 0 on the
    common random numbers), persuadables gain, sleeping dogs lose; the treated rows' mean is the
    campaign's true uplift; and buying anyway is not the same as buying because of the coupon."""
    ce = world.truth["coupon_effects"]
    cu = world.truth["campaign_uplift"].filter("has_coupon", pl.col("treated") > 0)
    assert set(ce["campaign_id"]) == set(cu["campaign_id"]) and cu.height >= 2
    assert ce.select("campaign_id", "customer_id").is_unique().all()
    kinds = {k: g for (k,), g in ce.group_by("coupon_response")}
    assert set(kinds) == {"persuadable", "sure_thing", "lost_cause", "sleeping_dog"}
    assert (kinds["sure_thing"]["true_uplift"] == 0).all()
    assert (kinds["lost_cause"]["true_uplift"] == 0).all()
    # (customers who are gone by then buy with no coupon either: uplift 0)
    active = {k: g.filter(pl.col("p_without_coupon") > 0) for k, g in kinds.items()}
    assert (active["persuadable"]["true_uplift"] > 0).all()
    assert (active["sleeping_dog"]["true_uplift"] < 0).all()
    assert (
        kinds["sure_thing"]["p_without_coupon"].mean()
        > 1.5 * kinds["persuadable"]["p_without_coupon"].mean()
    )
    treated = ce.filter("is_treatment").group_by("campaign_id").agg(pl.col("true_uplift").mean())
    both = cu.join(treated, on="campaign_id", suffix="_rows")
    assert both["true_uplift_rows"].to_list() == pytest.approx(both["true_uplift"].to_list())
    from scipy.stats import spearmanr

    assert spearmanr(ce["p_without_coupon"], ce["true_uplift"]).statistic < 0.3


def test_crm_design_holdout_consent_and_night(world, t):
    sends = t["campaign_sends"].join(t["customers"], on="customer_id")
    assert sends["marketing_opt_in"].all()
    treat = sends.filter(pl.col("group") == "treatment")
    hold = sends.filter(pl.col("group") == "holdout")
    assert treat["sent_at"].null_count() == 0 and hold["sent_at"].null_count() == hold.height
    hour = treat.select(h=kst("sent_at").dt.hour())["h"]
    night = (hour >= 21) | (hour < 8)
    assert night.any()
    assert treat.filter(night)["night_opt_in"].all()
    cu = world.truth["campaign_uplift"].filter(pl.col("assigned") > 0)
    realised = 1 - cu["treated"] / cu["assigned"]
    big = cu["assigned"] >= 200
    assert ((realised - cu["holdout_share"]).abs().filter(big) < 0.06).all()
    total = 1 - cu["treated"].sum() / cu["assigned"].sum()
    expected = (cu["holdout_share"] * cu["assigned"]).sum() / cu["assigned"].sum()
    assert abs(total - expected) < 0.02
    # Each treated customer got a send touch at the send time.
    touch = t["marketing_touches"].filter(pl.col("touch_type") == "send")
    assert touch.height == treat.height
    # Retention audiences are picked among engaged customers: the audience visited in the 30 days
    # before assignment far more often than the other opted-in customers.
    retention = t["campaigns"].filter(
        pl.col("objective") == "retention",
        pl.col("channel").is_in(["kakaotalk", "email", "app_push"]),
    )
    for cid in retention["campaign_id"]:
        aud = t["campaign_sends"].filter(pl.col("campaign_id") == cid)
        at = aud["assigned_at"].min()
        recent = t["sessions"].filter(pl.col("started_at").is_between(at - timedelta(days=30), at))
        visited = recent["customer_id"].unique().implode()
        others = t["customers"].filter(
            pl.col("marketing_opt_in"),
            pl.col("signed_up_at") < at,
            ~pl.col("customer_id").is_in(aud["customer_id"].implode()),
        )
        share_aud = aud["customer_id"].is_in(visited).mean()
        share_others = others["customer_id"].is_in(visited).mean()
        assert share_aud > 2 * share_others, cid


def test_campaigns_names_cost_models_and_spend(t):
    camps = t["campaigns"]
    pattern = (
        r"(search_ads|display|social|affiliate|retargeting|app_push|kakaotalk|email)_"
        r"(acquisition|conversion|retention|reactivation|awareness)_"
        r"20\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])_[a-z-]+_[a-z-]+"
    )
    ok = camps["campaign_name"].str.contains(f"^{pattern}$")
    assert 0 < (~ok).sum() <= max(2, round(0.1 * camps.height))
    assert set(camps["channel"]) == ZERO | POSITIVE | NEGATIVE
    for channel, model in {
        "display": "cpm",
        "social": "cpm",
        "search_ads": "cpc",
        "retargeting": "cpc",
        "affiliate": "cpa",
        "kakaotalk": "per_send",
        "app_push": "free",
        "email": "free",
    }.items():
        assert set(camps.filter(pl.col("channel") == channel)["cost_model"]) == {model}
    spend = t["marketing_spend"]
    assert (spend.filter(pl.col("channel").is_in(["app_push", "email"]))["spend"] == 0).all()
    sends = (
        t["campaign_sends"]
        .filter(pl.col("group") == "treatment")
        .group_by("campaign_id")
        .agg(n=pl.len())
    )
    kakao = (
        spend.filter(pl.col("channel") == "kakaotalk")
        .group_by("campaign_id")
        .agg(pl.col("spend").sum())
        .join(sends, on="campaign_id")
    )
    assert (kakao["spend"] == 20.0 * kakao["n"]).all()
    # Paid spend is the flighted budget that drove reach: the same every day of a 7-day block,
    # some blocks off, and it sums to the world's plan per channel (cents of rounding aside).
    paid = (
        spend.filter(pl.col("channel").is_in(list(PAID_CHANNELS)))
        .group_by("channel", "date")
        .agg(pl.col("spend").sum())
        .with_columns(week=(pl.col("date") - CFG.start_date).dt.total_days() // 7)
    )
    weekly = paid.group_by("channel", "week").agg(
        lo=pl.col("spend").min(), hi=pl.col("spend").max()
    )
    assert ((weekly["hi"] - weekly["lo"]) < 0.05).all()
    assert (weekly["hi"] == 0).any() and weekly["hi"].n_unique() > 20
    plan = build_entities(CFG).daily_spend.sum(axis=1)
    by_channel = dict(paid.group_by("channel").agg(pl.col("spend").sum()).iter_rows())
    for k, ch in enumerate(PAID_CHANNELS):
        assert abs(by_channel[ch] - plan[k]) < 0.01 * CFG.days
    clicks = t["marketing_touches"].filter(pl.col("touch_type") == "click").height
    paid_spend_clicks = spend.filter(
        pl.col("channel").is_in(["search_ads", "display", "social", "affiliate", "retargeting"])
    )["clicks"].sum()
    assert clicks == paid_spend_clicks
    assert (
        spend["installs"].sum()
        == t["customers"]
        .filter(
            pl.col("acquisition_channel") != "organic",
            pl.col("signed_up_at")
            >= datetime.combine(CFG.start_date, datetime.min.time(), UTC) - timedelta(hours=9),
        )
        .height
    )


def test_utm_tagged_sessions_follow_a_touch(t):
    tagged = t["sessions"].filter(pl.col("utm_campaign").is_not_null())
    assert 0 < tagged.height < t["sessions"].height
    utm = ["utm_source", "utm_medium", "utm_content"]
    assert tagged.select(utm).null_count().row(0) == (0, 0, 0)
    untagged = t["sessions"].filter(pl.col("utm_campaign").is_null())
    assert untagged.select(utm).null_count().row(0) == (untagged.height,) * 3
    clicks = t["marketing_touches"].filter(pl.col("touch_type") == "click")
    # Every click is followed, within half a minute, by the session it tagged.
    paid = clicks.join(
        tagged,
        left_on=["customer_id", "campaign_id", "creative_id"],
        right_on=["customer_id", "utm_campaign", "utm_content"],
    ).filter(
        (pl.col("started_at") - pl.col("occurred_at")).is_between(
            timedelta(0), timedelta(seconds=30)
        )
    )
    assert paid["touch_id"].n_unique() == clicks.height


def test_broad_channels_reach_almost_everyone_and_retargeting_is_confounded(t):
    touches = t["marketing_touches"]
    signed = t["customers"].height
    # Flighted budgets (off weeks, half-spend weeks) leave some customers unreached in 90 days.
    for ch in ("display", "social"):
        reached = touches.filter(pl.col("channel") == ch)["customer_id"].n_unique()
        assert reached / signed > 0.75, ch
    # Retargeted customers are the ones who were browsing anyway: more sessions per customer.
    sess = t["sessions"].group_by("customer_id").agg(n=pl.len())
    rt = touches.filter(pl.col("channel") == "retargeting")["customer_id"].unique()
    with_rt = sess.filter(pl.col("customer_id").is_in(rt.implode()))["n"].mean()
    without = sess.filter(~pl.col("customer_id").is_in(rt.implode()))["n"].mean()
    assert with_rt > 1.5 * without


def test_truth_tables(world):
    tr = world.truth
    assert set(tr) >= {
        "channel_effects",
        "campaign_uplift",
        "coupon_effects",
        "customers",
        "seasonality",
        "holidays",
        "weather",
    }
    assert tr["seasonality"].height == 7
    assert tr["seasonality"]["index"].sum() == pytest.approx(7.0)
    assert tr["customers"].height == CFG.customers
    assert set(tr["customers"]["archetype"]) == {"meticulous", "mania", "easygoing"}
    assert tr["weather"].height == CFG.days * tr["weather"]["region"].n_unique()
    assert tr["weather"]["region"].n_unique() >= 10
    rainy = tr["weather"].filter(pl.col("precipitation_mm") >= 5)
    assert rainy.height > 0 and (rainy["multiplier"] > 1).all()
    # The raw weather file is the planted weather, for every window day and customer region.
    raw = world.tables["weather"]
    planted = tr["weather"].select("date", "region", "precipitation_mm", "temperature_c")
    assert raw.rename({"mean_temp_c": "temperature_c"}).equals(planted)
    assert set(world.tables["customers"]["region"]) <= set(raw["region"])
    # archetypes behave as named: meticulous view and search most, mania spend most per order
    t = world.tables
    arch = tr["customers"].select("customer_id", "archetype")
    sess = (
        t["sessions"]
        .join(arch, on="customer_id")
        .group_by("archetype")
        .agg(pl.col("page_views").mean(), pl.col("search_count").mean())
    )
    sess = {r["archetype"]: r for r in sess.iter_rows(named=True)}
    assert (
        sess["meticulous"]["search_count"]
        > sess["mania"]["search_count"]
        > sess["easygoing"]["search_count"]
    )
    assert sess["meticulous"]["page_views"] > sess["easygoing"]["page_views"]
    aov = (
        t["orders"]
        .join(arch, on="customer_id")
        .group_by("archetype")
        .agg(pl.col("order_amount").median())
    )
    aov = dict(aov.iter_rows())
    assert aov["mania"] > aov["meticulous"] > aov["easygoing"]


def _episode_days(world) -> pl.DataFrame:
    """customer_id, date of every customer-day inside a shopping episode (truth)."""
    return (
        world.truth["shopping_episodes"]
        .with_columns(date=pl.date_ranges("start_date", "end_date"))
        .explode("date")
        .select("customer_id", "date")
    )


def test_shopping_episodes_confound_search_and_retargeting(world, t):
    """The planted confounding: purchases cluster in shopping episodes (latent intent), search
    and retargeting impressions follow the visits there, so they sit right before purchases that
    happen without them; the truth still holds every channel's exact incremental orders."""
    episodes = _episode_days(world)
    customer_days = world.truth["daily"]["customers_in_episode"].sum()
    assert customer_days == episodes.height

    def share_in_episodes(frame: pl.DataFrame, col: str) -> float:
        days = frame.select("customer_id", date=kst(col).dt.date())
        return days.join(episodes, on=["customer_id", "date"], how="semi").height / days.height

    episode_share = episodes.height / CFG.days / CFG.customers
    assert 0.08 < episode_share < 0.2
    orders_inside = share_in_episodes(t["orders"], "ordered_at")
    assert orders_inside > 0.5
    touches = t["marketing_touches"].filter(pl.col("touch_type") == "impression")
    by_channel = {
        ch: share_in_episodes(touches.filter(pl.col("channel") == ch), "occurred_at")
        for ch in ("search_ads", "retargeting", "display")
    }
    # display reaches customers at random; search and retargeting follow the episodes' visits
    assert by_channel["search_ads"] > 1.4 * by_channel["display"], by_channel
    assert by_channel["retargeting"] > 1.4 * by_channel["display"], by_channel
    assert orders_inside > 3 * by_channel["display"]

    # Orders with a search impression in the 3 days before: far more than search causes.
    search = touches.filter(pl.col("channel") == "search_ads").select(
        "customer_id", seen="occurred_at"
    )
    preceded = (
        t["orders"]
        .join(search, on="customer_id")
        .filter(
            (pl.col("seen") <= pl.col("ordered_at"))
            & (pl.col("seen") > pl.col("ordered_at") - timedelta(days=3))
        )["order_id"]
        .n_unique()
    )
    inc = world.truth["channel_effects"].filter(pl.col("channel") == "search_ads")
    assert preceded > 2.5 * inc["incremental_orders"].item() > 0
    # Organic visits are observable: most sessions carry no campaign tag.
    untagged = t["sessions"]["utm_campaign"].null_count()
    assert untagged > 0.6 * t["sessions"].height


def test_shopping_episodes_are_the_same_with_marketing_off():
    """Episodes are the customer's own intent: with all marketing off the same customer-days are
    in episodes, and the no-marketing world keeps most orders inside them."""
    base = simulate(CFG)
    low = simulate(
        WorldConfig(
            customers=CFG.customers,
            days=CFG.days,
            seed=CFG.seed,
            start_date=CFG.start_date,
            channel_lift=dict.fromkeys(CHANNELS, 0.0),
            negative_push_lift=0.0,
        )
    )
    assert base.truth["shopping_episodes"].equals(low.truth["shopping_episodes"])
    # with no effects anywhere, factual = no-marketing, exactly
    ce = low.truth["channel_effects"]
    assert (ce["incremental_orders"] == 0).all()
    assert ce["factual_orders"][0] == ce["baseline_orders"][0]


def test_sessions_follow_each_customers_active_hours():
    """With personal hours on (the CRM lab's worlds), sessions start at hours drawn from the
    customer's planted active hours: the hour a customer is most often active is within 2 hours
    of their truth peak far more often than under the population rhythm alone (1 in 24 exact,
    ~5 in 24 within 2 h)."""
    world = simulate(replace(CFG, personal_hours=True, counterfactuals=False))
    mc = world.truth["messaging_customers"]
    local = kst("started_at")
    s = (
        world.tables["sessions"]
        .filter(local.dt.weekday() <= 5)
        .select("customer_id", h=local.dt.hour())
    )
    top = s.group_by("customer_id", "h").len().sort("len", "h", descending=[True, False])
    top = top.group_by("customer_id", maintain_order=True).first().join(mc, on="customer_id")
    gap = (top["h"] - top["peak_hour_weekday"]).abs().to_numpy()
    near = (np.minimum(gap, 24 - gap) <= 2).mean()
    assert near > 0.5


def test_a_lift_study_holds_a_random_share_out_of_its_channel_and_logs_their_ghosts():
    study = LiftStudy("search_ads", 0.25, 14, 42)
    cfg = replace(CFG, days=70, lift_studies=(study,), counterfactuals=False)
    tables = simulate(cfg).tables
    spec = contract_tables()
    _contract_exact(tables, {k: spec[k] for k in LIFT_TABLES})
    a = tables["lift_study_assignments"]
    assert a.height == cfg.customers and a["customer_id"].n_unique() == cfg.customers
    held = set(a.filter(group="holdout")["customer_id"])
    assert 0.21 < len(held) / cfg.customers < 0.29
    first, last = cfg.start_date + timedelta(days=14), cfg.start_date + timedelta(days=55)
    assert a["start_date"].unique().to_list() == [first]
    assert a["end_date"].unique().to_list() == [last]
    day = kst("occurred_at").dt.date()
    imp = tables["marketing_touches"].filter(channel="search_ads", touch_type="impression")
    during = imp.filter(day.is_between(first, last))
    # the holdout is not served during the study, served before and after it like the rest
    assert not set(during["customer_id"]) & held
    outside = imp.filter(~day.is_between(first, last))
    assert 0.15 < outside["customer_id"].is_in(list(held)).mean() < 0.35
    ghosts = tables["lift_study_ghost_impressions"]
    assert set(ghosts["customer_id"]) <= held
    assert ghosts.select(day.is_between(first, last).all()).item()
    # ghosts are the holdout's would-be impressions: at the test group's rate per customer
    ghost_rate = ghosts.height / len(held)
    served_rate = during.height / (cfg.customers - len(held))
    assert 0.7 < ghost_rate / served_rate < 1.3, (ghost_rate, served_rate)
    # no study: no study tables, the same world as before the feature
    assert not set(LIFT_TABLES) & set(simulate(replace(cfg, lift_studies=())).tables)


def test_price_drops_mark_products_down_and_orders_pay_the_new_price():
    cfg = replace(CFG, days=60, price_drop_share=0.2, counterfactuals=False)
    world = simulate(cfg)
    tables, spec = world.tables, contract_tables()
    _contract_exact(tables, {"product_prices": spec["product_prices"]})
    prices, products = tables["product_prices"], tables["products"]
    assert prices.select("product_id", "valid_from").is_duplicated().sum() == 0
    assert prices["product_id"].is_in(products["product_id"].implode()).all()
    drops = world.truth["price_drops"]
    # About the share of products, each marked down 10-40 % (to the x,x00 price points) once,
    # inside the window, a week after listing at the earliest.
    assert 0.15 < drops.height / products.height < 0.25
    assert drops["drop_pct"].min() > 0.05 and drops["drop_pct"].max() < 0.45
    assert (drops["price_krw"] % 1000 == 900).all()
    assert drops["drop_date"].is_between(cfg.start_date, cfg.end_date, closed="left").all()
    listed = prices.group_by("product_id").agg(pl.col("price_krw").first(), pl.len())
    both = products.join(listed, on="product_id")
    assert (both["price"] == both["price_krw"]).all()  # the first period is the list price
    assert both["len"].max() == 2 and (both["len"] == 2).sum() == drops.height
    # Every order line pays the price valid when it was ordered.
    lines = tables["order_items"].join(tables["orders"], on="order_id").sort("ordered_at")
    paid = lines.join_asof(
        prices.sort("valid_from"), left_on="ordered_at", right_on="valid_from", by="product_id"
    )
    assert paid["price_krw"].null_count() == 0
    assert (paid["unit_price"] == paid["price_krw"]).all()
    marked_down = paid.join(products.select("product_id", "price"), on="product_id")
    assert (marked_down["unit_price"] < marked_down["price"]).sum() > 0
    # No drops: no price table, and the drops touch nothing but the prices paid.
    plain = simulate(replace(cfg, price_drop_share=0.0)).tables
    assert "product_prices" not in plain
    for name in plain:
        if name not in ("orders", "order_items"):
            assert plain[name].equals(tables[name]), name
    assert plain["order_items"].drop("unit_price").equals(tables["order_items"].drop("unit_price"))
