"""The profile as people read it: blocks of label/value pairs, tables and plays, formatted as in
lib/display.py (money with separators, rates as %, missing as '–'), drawn in the terminal with
rich or written as one HTML page in the marketing report's style."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from dagster_project.lib import display
from dagster_project.lib.profile.gather import CustomerProfile
from dagster_project.lib.profile.playbook import Play

REPORT_TEMPLATE = Path(__file__).parents[1] / "report" / "page.html.j2"
TERMINAL_HIDDEN = {"session_id", "creative_id"}
WIDE = 140  # terminal columns from which campaign names are shown too


@dataclass
class Block:
    title: str
    pairs: list[tuple[str, str]] = field(default_factory=list)
    table: pl.DataFrame | None = None
    rates: tuple[str, ...] = ()
    plays: list[Play] = field(default_factory=list)
    note: str | None = None


def _yes_no(value: bool | None) -> str:
    return display.MISSING if value is None else ("yes" if value else "no")


def _text(value: object) -> str:
    return display.MISSING if display.is_missing(value) or value == "" else str(value)


def _with_code(value: str | None, code: str | None) -> str:
    return _text(value) if not code else f"{_text(value)} ({code})"


def _table(frame: pl.DataFrame, note: str | None = None, empty: str = "none") -> tuple:
    return (frame, None) if frame.height else (None, note or empty)


def headline(p: CustomerProfile) -> list[tuple[str, str]]:
    s = p.scores
    return [
        ("segment", _text(p.rfm_segment)),
        ("value tier", _text(p.value_tier)),
        ("browsing type", _text(p.browsing_type)),
        ("p_buy", display.rate(s.p_buy)),
        ("expected value (KRW)", display.money(s.expected_value_krw)),
        ("orders / revenue (KRW)", f"{p.orders:,} / {display.money(p.revenue_krw)}"),
    ]


def blocks(p: CustomerProfile) -> list[Block]:
    """The profile's parts, in the order both renderers show them."""
    s = p.scores
    horizon = f" in {s.horizon_days} days" if s.horizon_days else ""
    who = Block(
        "Who they are",
        [
            ("signed up", _text(p.signed_up_date)),
            ("gender / age band", f"{_text(p.gender)} / {_text(p.age_band)}"),
            ("region", _text(p.region)),
            ("acquired through", _text(p.acquisition_channel)),
            (
                "marketing / night consent",
                f"{_yes_no(p.has_marketing_consent)} / {_yes_no(p.has_night_consent)}",
            ),
            ("RFM segment", _with_code(p.rfm_segment, p.rfm_cell)),
            ("value tier", _with_code(p.value_tier, p.value_code)),
            ("browsing type", _text(p.browsing_type)),
            ("orders", f"{p.orders:,}"),
            ("revenue (KRW)", display.money(p.revenue_krw)),
            ("first / last order", f"{_text(p.first_order_date)} / {_text(p.last_order_date)}"),
            ("sessions / marketing touches", f"{p.sessions:,} / {p.touches:,}"),
        ],
        note="; ".join(n for n in (p.notes.get("who"), p.notes.get("segment")) if n) or None,
    )
    prefs, prefs_note = _table(p.preferences, p.notes.get("preferences"))
    uplift = (
        f"{100 * s.coupon_uplift:+.1f} points (decile {s.coupon_uplift_decile} of 10)"
        if s.coupon_uplift is not None
        else f"{display.MISSING} ({s.uplift_note})"
        if s.uplift_note
        else display.MISSING
    )
    models = Block(
        "What the models say",
        [
            (f"p_buy (order{horizon})", display.rate(s.p_buy)),
            ("p_buy decile", _text(s.p_buy_decile)),
            (f"expected value{horizon} (KRW)", display.money(s.expected_value_krw)),
            (
                "value p10 / p50 / p90 (KRW)",
                " / ".join(
                    display.money(v) for v in (s.value_p10_krw, s.value_p50_krw, s.value_p90_krw)
                ),
            ),
            ("p_buy x value cell", _text(s.grid_cell)),
            ("coupon uplift", uplift),
            ("served by", f"{_text(s.p_buy_source)} / {_text(s.value_source)}"),
            ("model version", _text(s.model_version)),
            ("read from", _text(s.source)),
        ],
        note=p.notes.get("scores"),
    )
    journey_note = p.notes.get("journey")
    out = [who]
    out.append(
        Block(
            "Preferred categories (preference index 0-100, 90 % interval of the share)",
            table=prefs,
            note=prefs_note,
            rates=("posterior", "posterior_low", "posterior_high"),
        )
    )
    out.append(models)
    out.append(
        Block(
            "Suggested strategy",
            plays=p.plays,
            note=None if p.plays else "no play: the playbook has none for this customer",
        )
    )
    for title, frame, empty in (
        ("Recent orders", p.recent_orders, "no orders"),
        ("Recent sessions", p.recent_sessions, "no sessions"),
        ("Recent marketing touches", p.recent_touches, "no marketing touches"),
    ):
        table, note = _table(frame, journey_note, empty)
        out.append(Block(f"{title} (newest first, {p.time_zone})", table=table, note=note))
    table, note = _table(p.campaigns, p.notes.get("campaigns"), "no campaign reached this customer")
    out.append(Block("Campaigns received (arm and outcome)", table=table, note=note))
    table, note = _table(
        _candidate_lists(p.candidates), p.notes.get("candidates"), "no product candidates"
    )
    block = Block("Product candidates", table=table, note=note)
    if table is not None:
        block.pairs = [("read from", _text(p.notes.get("candidates")))]
    out.append(block)
    table, note = _table(p.dips, p.notes.get("dips"), "not a target of an upcoming demand dip")
    out.append(
        Block(
            "Upcoming demand dips in preferred categories",
            table=table,
            note=note,
            rates=("dip_ratio",),
        )
    )
    features = Block(
        "Feature snapshot",
        [(name, _feature(name, value)) for name, value in p.features.items()],
        note=None if p.features else p.notes.get("features"),
    )
    if p.features:
        features.pairs.insert(0, ("read from", _text(p.notes.get("features"))))
    out.append(features)
    return out


def _candidate_lists(candidates: pl.DataFrame) -> pl.DataFrame:
    """One row per candidate list: its first products as 'id (category, price)'."""
    if not candidates.height:
        return candidates
    details = [c for c in ("category_l1", "price_krw") if c in candidates.columns]
    label = pl.col("product_id")
    if details:
        price = pl.col("price_krw").map_elements(display.money, return_dtype=pl.String)
        parts = (
            [pl.col("category_l1").fill_null(display.MISSING)] if "category_l1" in details else []
        )
        parts += [price.fill_null(display.MISSING)] if "price_krw" in details else []
        label = pl.format("{} ({})", label, pl.concat_str(parts, separator=", "))
    return (
        candidates.sort("list", "rank")
        .group_by("list", maintain_order=True)
        .agg(products=label.str.join("; "))
    )


def _feature(name: str, value: object) -> str:
    if isinstance(value, bool):
        return _yes_no(value)
    if name.endswith("_krw"):
        return display.money(value)  # type: ignore[arg-type]
    if name.endswith(("_share", "_share_90d", "_rate")):
        return display.rate(value)  # type: ignore[arg-type]
    if isinstance(value, int | float):
        return display.number(value, 0 if isinstance(value, int) else 2)
    return _text(value)


# ---------------------------------------------------------------------------------------------
# Terminal


def print_profile(p: CustomerProfile, console=None) -> None:
    """The profile in the terminal: a headline, then each block as a panel or table."""
    from rich.columns import Columns
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    console = console or Console()
    console.rule(f"[bold]Customer {p.customer_id}[/bold]  as of {_text(p.as_of)}")
    console.print(
        Columns(
            [
                Panel(f"[bold]{value}[/bold]", title=label, expand=False)
                for label, value in headline(p)
            ]
        )
    )
    for block in blocks(p):
        if block.pairs:
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="dim")
            grid.add_column()
            for label, value in block.pairs:
                grid.add_row(label, value)
            console.print(Panel(grid, title=block.title, title_align="left", expand=False))
        if block.plays:
            plays = Table(title=block.title, title_justify="left", show_lines=False)
            for name in ("from", "play", "what to do"):
                plays.add_column(name, overflow="fold")
            for play in block.plays:
                plays.add_row(
                    f"{play.section}: {play.value}", f"[bold]{play.play}[/bold]", play.text
                )
            console.print(plays)
        if block.table is not None:
            shown = display.formatted(block.table, rate_columns=block.rates)
            table = Table(title=None if block.pairs else block.title, title_justify="left")
            # The terminal leaves out what only the HTML page has room for.
            hidden = TERMINAL_HIDDEN | ({"campaign_name"} if console.width < WIDE else set())
            shown = shown.drop([c for c in shown.columns if c in hidden])
            for name in shown.columns:
                numeric = block.table.schema[name].is_numeric()
                table.add_column(
                    name.replace("_krw", " (KRW)").replace("_", " "),
                    justify="right" if numeric else "left",
                    overflow="fold",
                )
            for row in shown.iter_rows():
                table.add_row(*row)
            console.print(table)
        if block.note and not (block.pairs or block.plays or block.table is not None):
            console.print(f"[bold]{block.title}[/bold]: [dim]{block.note}[/dim]")
        elif block.note:
            console.print(f"  [dim]{block.note}[/dim]")


# ---------------------------------------------------------------------------------------------
# HTML


def report_style() -> str:
    """The marketing report's stylesheet (lib/report/page.html.j2), so the profile page looks
    like the report's pages."""
    found = re.search(r"<style>(.*?)</style>", REPORT_TEMPLATE.read_text(), re.S)
    if not found:
        raise ValueError(f"{REPORT_TEMPLATE}: no <style> block to reuse")
    return found.group(1)


def spend_chart(p: CustomerProfile) -> bytes | None:
    """The customer's spend per month (the last 12 with orders), or None without orders."""
    from dagster_project.lib import charts

    if not p.monthly_spend.height:
        return None
    return charts.bars(
        p.monthly_spend, "month", "revenue_krw", f"{p.customer_id}: spend per month", "KRW"
    )


def write_html(p: CustomerProfile, path: Path, source: str) -> Path:
    """The profile as one self-contained HTML page (chart inline)."""
    import jinja2
    from markupsafe import Markup

    from dagster_project.lib.report.build import html_table

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True)
    chart = spend_chart(p)
    html = env.get_template("profile.html.j2").render(
        style=Markup(report_style()),
        customer_id=p.customer_id,
        as_of=_text(p.as_of),
        built_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        source=source,
        figures=headline(p),
        chart=base64.b64encode(chart).decode() if chart else None,
        blocks=[
            {
                "title": b.title,
                "pairs": b.pairs,
                "plays": b.plays,
                "table": Markup(html_table(b.table, b.rates)) if b.table is not None else None,
                "note": b.note,
            }
            for b in blocks(p)
        ],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html)
    return path
