"""The customer profile on materialized worlds: its figures reconcile with the gold tables (orders,
revenue, segment, campaigns, candidates) and with the scores Feast serves; on an orders-only
export every absent part is shown as missing, never an error; an unknown id is an error naming
it; `mopt profile` prints the profile and writes its HTML page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.lib import display
from dagster_project.lib.profile.gather import UnknownCustomerError, gather_profile
from dagster_project.lib.profile.playbook import load_playbook
from dagster_project.lib.profile.render import print_profile, write_html
from dagster_project.lib.settings import Settings
from dagster_project.lib.warehouse import connect_read_copy

pytestmark = pytest.mark.slow
runner = CliRunner()


def _customers(settings: Settings, sql: str) -> list[str]:
    with connect_read_copy(settings.duckdb_path) as con:
        return [r[0] for r in con.execute(sql).fetchall()]


def _sample(settings: Settings) -> list[str]:
    """The top buyer, a customer who never bought, one holdout and one treatment customer of
    executed campaigns, and one customer planned by a campaign file."""
    picks = [
        "select customer_id from gold.customer_segments order by orders desc, customer_id limit 1",
        "select min(customer_id) from gold.customer_segments where orders = 0",
        "select min(customer_id) from gold.fct_campaign_sends where assignment_group = 'holdout'",
        "select min(customer_id) from gold.fct_campaign_sends where assignment_group = 'treatment'",
        "select min(customer_id) from gold.campaign_assignments",
    ]
    ids = [c for sql in picks for c in _customers(settings, sql) if c is not None]
    assert len(ids) == len(picks), ids
    return list(dict.fromkeys(ids))


def test_profile_reconciles_with_the_gold_tables_and_the_served_scores(world: Settings) -> None:
    book = load_playbook()
    for customer_id in _sample(world):
        with connect_read_copy(world.duckdb_path) as con:
            p = gather_profile(con, customer_id, book, world)
            seg = con.execute(
                "select orders, revenue_krw, rfm_segment, value_tier, browsing_type, top_category"
                " from gold.customer_segments where customer_id = ?",
                [customer_id],
            ).fetchone()
            lifetime = con.execute(
                "select coalesce(lifetime_orders, 0), coalesce(lifetime_revenue_krw, 0)"
                " from gold.dim_customers where customer_id = ?",
                [customer_id],
            ).fetchone()
            score = con.execute(
                "select p_buy, expected_value_krw, value_p10_krw, value_p90_krw"
                " from gold.customer_scores where customer_id = ? order by scored_at desc limit 1",
                [customer_id],
            ).fetchone()
            arms = con.execute(
                "select campaign_id, assignment_group from gold.fct_campaign_sends"
                " where customer_id = ? union all select campaign_id, assignment_group"
                " from gold.campaign_assignments where customer_id = ?",
                [customer_id, customer_id],
            ).fetchall()
            candidates = con.execute(
                "select list, rank, product_id from gold.product_candidates"
                " where customer_id = ? and rank <= 5",
                [customer_id],
            ).fetchall()
        orders, revenue, segment, tier, browsing, top_category = seg
        assert p.orders == orders == lifetime[0], customer_id
        assert p.revenue_krw == pytest.approx(revenue) == pytest.approx(lifetime[1])
        assert p.recent_orders.height == min(orders, 10)
        if orders:
            assert p.monthly_spend["revenue_krw"].sum() == pytest.approx(revenue)
        assert (p.rfm_segment, p.value_tier, p.browsing_type) == (segment, tier, browsing)
        assert p.preferences["category_l1"][0] == top_category
        # the scores come from Feast's online store, and are the newest gold.customer_scores row
        assert p.scores.source == "Feast online store (customer_scores_v1)"
        assert (
            p.scores.p_buy,
            p.scores.expected_value_krw,
            p.scores.value_p10_krw,
            p.scores.value_p90_krw,
        ) == pytest.approx(score, rel=1e-12)
        assert sorted(p.campaigns.select("campaign_id", "arm").rows()) == sorted(arms)
        assert p.notes["candidates"] == "Feast online store (campaign_products_v1)"
        assert sorted(p.candidates.select("list", "rank", "product_id").rows()) == sorted(
            candidates
        )
        values = {"rfm_segment": segment, "value_tier": tier, "browsing_type": browsing}
        expected = [(k, v) for k, v in values.items() if v in book.get(k, {})]
        assert [(play.section, play.value) for play in p.plays if play.section in values] == (
            expected
        )


def test_without_feast_the_same_scores_come_from_the_warehouse(world: Settings) -> None:
    [customer_id] = _customers(
        world, "select customer_id from gold.customer_segments order by orders desc limit 1"
    )
    with connect_read_copy(world.duckdb_path) as con:
        served = gather_profile(con, customer_id, load_playbook(), world)
        stored = gather_profile(con, customer_id, load_playbook(), world, feast=False)
    assert stored.scores.source == "gold.customer_scores"
    assert stored.scores.p_buy == served.scores.p_buy
    assert stored.candidates.select("list", "rank", "product_id").equals(
        served.candidates.select("list", "rank", "product_id")
    )
    # the newest snapshot has every feature; the served ones are the same values
    assert {k: stored.features[k] for k in served.features} == served.features


def test_coupon_uplift_is_shown_only_where_the_model_passes_its_check(world: Settings) -> None:
    [customer_id] = _customers(world, "select min(customer_id) from gold.customer_segments")
    with connect_read_copy(world.duckdb_path) as con:
        passed = bool(
            con.execute(
                "select count(*) from information_schema.tables"
                " where table_schema = 'gold' and table_name = 'coupon_uplift_scores'"
            ).fetchone()[0]
        )
        p = gather_profile(con, customer_id, load_playbook(), world)
    if passed:
        assert p.scores.coupon_uplift is not None
    else:  # 1,000 customers' coupon sends do not show the model beats random (end-to-end test)
        assert p.scores.coupon_uplift is None
        assert "qini_above_random" in (p.scores.uplift_note or "")


def test_unknown_customer_is_an_error_naming_the_id(world: Settings) -> None:
    with connect_read_copy(world.duckdb_path) as con, pytest.raises(UnknownCustomerError) as err:
        gather_profile(con, "C999999", load_playbook(), world)
    assert "'C999999' is not in the warehouse" in str(err.value)
    assert "1,000 customers" in str(err.value)


def _env(settings: Settings) -> dict[str, str]:
    return {
        "MOPT_PROFILE": "embedded",
        "MOPT_DATA_DIR": str(settings.data_dir),
        "MOPT_DUCKDB_PATH": str(settings.duckdb_path),
        "MOPT_FEATURES_DIR": str(settings.features_dir),
        "COLUMNS": "140",
    }


def test_cli_prints_the_profile_and_writes_html(world: Settings, tmp_path: Path) -> None:
    [customer_id] = _customers(
        world, "select customer_id from gold.customer_segments order by orders desc limit 1"
    )
    html = tmp_path / "profile.html"
    result = runner.invoke(app, ["profile", customer_id, "--html", str(html)], env=_env(world))
    assert result.exit_code == 0, result.output
    for text in (f"Customer {customer_id}", "What the models say", "Suggested strategy"):
        assert text in result.output
    page = html.read_text()
    assert f"<h1>Customer {customer_id}</h1>" in page
    assert page.count("data:image/png;base64,") == 1  # the monthly spend chart
    assert "<nav>" in page and "section {" in page  # the report's stylesheet

    unknown = runner.invoke(app, ["profile", "NOBODY"], env=_env(world))
    assert unknown.exit_code == 2
    assert "customer 'NOBODY' is not in the warehouse" in unknown.output


def test_orders_only_export_shows_missing_parts_without_error(
    orders_only: Settings, tmp_path: Path
) -> None:
    [buyer] = _customers(
        orders_only, "select customer_id from gold.customer_segments order by orders desc limit 1"
    )
    with connect_read_copy(orders_only.duckdb_path) as con:
        p = gather_profile(con, buyer, load_playbook(), orders_only)
        orders, revenue = con.execute(
            "select orders, revenue_krw from gold.customer_segments where customer_id = ?",
            [buyer],
        ).fetchone()
        [served_p_buy] = con.execute(
            "select p_buy from gold.customer_scores where customer_id = ?"
            " order by scored_at desc limit 1",
            [buyer],
        ).fetchone()
    assert (p.orders, p.revenue_krw) == (orders, pytest.approx(revenue))
    assert p.scores.p_buy == pytest.approx(served_p_buy, rel=1e-12)
    assert (p.sessions, p.touches) == (0, 0)
    assert p.gender is None and p.browsing_type == "unknown"
    assert p.campaigns.is_empty() and p.candidates.is_empty()

    console = Console(record=True, width=140)
    print_profile(p, console)
    text = console.export_text()
    assert f"Customer {buyer}" in text
    assert re.search(rf"gender / age band +{display.MISSING} / {display.MISSING}", text)
    assert "no customers record (only orders)" in text
    assert "no sessions" in text and "no campaign reached this customer" in text
    page = write_html(p, tmp_path / "orders_only.html", "test").read_text()
    assert "data:image/png;base64," in page
