"""Building the report's pages: each area (attribution, uplift, models, segments) is a function
from the warehouse (and the registry) to sections of text, chart and table. An area whose tables
are absent (e.g. an orders-only export has no touches to attribute) says what it needs.

To add an area (forecast, budget, ...): write a function returning a Page and add it to AREAS."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from dagster_project.lib import charts, display


@dataclass
class Section:
    title: str
    text: str
    chart: bytes | None = None
    table: pl.DataFrame | None = None
    rates: tuple[str, ...] = ()
    missing: str | None = None

    @property
    def anchor(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.title.lower())


@dataclass
class Page:
    file: str
    title: str
    sections: list[Section] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)


def has_table(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, name = relation.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables"
            " where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def _needs(con, relation: str, title: str, what: str) -> Section | None:
    if has_table(con, relation):
        return None
    return Section(title, what, missing=f"{relation} is not in the warehouse (build it first)")


def attribution_page(con: duckdb.DuckDBPyConnection, models_dir: Path) -> Page:
    from dagster_project.lib.attribution import report

    page = Page("attribution.html", "Attribution and ROAS")
    title = "Conversions credited per channel"
    text = (
        "Each model shares out the same conversions between channels; the (baseline) row is what "
        "would have happened without marketing. Last click credits whoever touched the customer "
        "last; the incrementality-aware model credits only what the marketing caused, the "
        "figure the budget should follow."
    )
    missing = _needs(con, "gold.attribution_credit", title, text)
    if missing:
        page.sections.append(missing)
        return page
    credit = con.sql("select * from gold.attribution_credit").pl()
    matrix = report.channel_matrix(credit)
    shown = [
        m for m in ("last_click", "markov_1", "shapley", "incrementality") if m in matrix.columns
    ]
    page.sections.append(
        Section(
            title,
            text,
            charts.grouped_bars(matrix, "channel", shown, title, "conversions credited"),
            matrix,
        )
    )
    if has_table(con, "gold.attributed_roas"):
        roas = report.roas_by_channel(con.sql("select * from gold.attributed_roas").pl())
        wide = (
            roas.filter(pl.col("model").is_in(shown) & pl.col("roas").is_not_null())
            .pivot(on="model", index="channel", values="roas")
            .sort("channel")
        )
        models = [m for m in shown if m in wide.columns]
        page.sections.append(
            Section(
                "ROAS by channel",
                "Attributed revenue per won spent, over all of the channel's spend. A channel "
                "whose ROAS falls from last click to the incrementality model gets credit for "
                "sales that would have happened anyway.",
                charts.grouped_bars(wide, "channel", models, "ROAS by channel", "ROAS"),
                wide,
            )
        )
        spend = float(roas.filter(pl.col("model") == shown[0])["spend_krw"].sum())
        page.figures.append(("spend (KRW)", display.money(spend)))
    page.figures.insert(0, ("conversions", display.number(float(matrix[shown[0]].sum()), 0)))
    return page


def uplift_page(con: duckdb.DuckDBPyConnection, models_dir: Path) -> Page:
    from dagster_project.lib.uplift.measure import VERDICTS, campaigns_to_stop

    page = Page("uplift.html", "Campaign uplift")
    title = "Uplift per campaign"
    text = (
        "Conversion rate of the customers who got the message minus that of the holdout, with "
        "intervals that hold for all campaigns at once. Green: effective; red: harmful; grey: "
        "no effect worth a message; orange: inconclusive (a larger holdout would tell)."
    )
    missing = _needs(con, "gold.campaign_uplift", title, text)
    if missing:
        page.sections.append(missing)
        return page
    uplift = con.sql("select * from gold.campaign_uplift order by conversion_diff desc").pl()
    page.figures = [
        (v.replace("_", " "), str(int((uplift["verdict"] == v).sum()))) for v in VERDICTS
    ]
    columns = [
        "campaign_id",
        "channel",
        "objective",
        "n_treatment",
        "n_holdout",
        "conversion_treatment",
        "conversion_holdout",
        "conversion_diff",
        "verdict",
    ]
    rates = ("conversion_treatment", "conversion_holdout", "conversion_diff")
    if uplift.height:
        chart = charts.intervals(
            uplift,
            "campaign_id",
            "conversion_diff",
            "conversion_sim_low",
            "conversion_sim_high",
            title,
            "uplift in conversion rate",
            colour_by="verdict",
        )
        page.sections.append(Section(title, text, chart, uplift.select(columns), rates))
    else:
        page.sections.append(Section(title, text, missing="no campaign with a holdout yet"))
    stop = campaigns_to_stop(uplift)
    page.sections.append(
        Section(
            "Campaigns to stop or rework",
            "Shown to do harm, or to do nothing worth a message. Inconclusive campaigns are not "
            "here: they need more customers, not a stop.",
            table=stop.select(columns) if stop.height else None,
            rates=rates,
            missing=None if stop.height else "none: no campaign is shown harmful or useless",
        )
    )
    return page


def _champion_table(models_dir: Path, model: str, name: str) -> pl.DataFrame | None:
    from dagster_project.lib.models.registry import Registry

    registry = Registry(models_dir)
    version = registry.champion(model)
    path = registry.folder(model, version) / f"{name}.parquet" if version else None
    return pl.read_parquet(path) if path and path.exists() else None


def models_page(con: duckdb.DuckDBPyConnection, models_dir: Path) -> Page:
    from dagster_project.lib.models.pipeline import LTV_MODEL, PURCHASE_MODEL

    page = Page("models.html", "Purchase and value models")
    calibration = _champion_table(models_dir, PURCHASE_MODEL, "calibration")
    title = "Calibration of purchase probability"
    text = (
        "Customers of the test window in ten groups by predicted probability to buy within the "
        "horizon: observed rate against predicted. On the diagonal, a p_buy of 20 % means one "
        "in five of such customers buys; campaign budgets can multiply by it."
    )
    if calibration is None:
        page.sections.append(Section(title, text, missing="no champion purchase model yet"))
    else:
        page.sections.append(
            Section(
                title,
                text,
                charts.calibration(calibration, "predicted_rate", "observed_rate", title),
                calibration,
                ("predicted_rate", "observed_rate"),
            )
        )
    deciles = _champion_table(models_dir, LTV_MODEL, "deciles")
    title = "Customer value: predicted vs actual by decile"
    text = (
        "Customers of the test window in ten groups by predicted spend over the horizon "
        "(1 = highest): mean actual spend (bars) and mean prediction (dots). A model that ranks "
        "well falls from left to right; one that is calibrated puts the dots on the bars."
    )
    if deciles is None:
        page.sections.append(Section(title, text, missing="no champion value model yet"))
    else:
        page.sections.append(
            Section(
                title,
                text,
                charts.predicted_vs_actual(
                    deciles,
                    "decile",
                    "mean_predicted_krw",
                    "mean_actual_krw",
                    title,
                    "mean spend per customer (KRW)",
                ),
                deciles,
            )
        )
    return page


def segments_page(con: duckdb.DuckDBPyConnection, models_dir: Path) -> Page:
    from dagster_project.lib.segments.report import shares

    page = Page("segments.html", "Customer segments")
    missing = _needs(con, "gold.customer_segments", "Segments", "RFM segments and value tiers.")
    if missing:
        page.sections.append(missing)
        return page
    seg = con.sql("select * from gold.customer_segments").pl()
    page.figures = [("customers", display.number(seg.height, 0))]
    for column, title, text in (
        (
            "rfm_segment",
            "RFM segments",
            "Customers by recency, frequency and spend: champions "
            "buy often and lately, at-risk customers used to and have stopped.",
        ),
        ("value_tier", "Value tiers", "The seed's '333' tiers of value and loyalty."),
        (
            "browsing_type",
            "Browsing types",
            "How customers browse (k-means over their "
            "sessions): meticulous, mania and easygoing browsers want different messages.",
        ),
    ):
        if column not in seg.columns:
            continue
        counts = shares(seg, column)
        page.sections.append(
            Section(
                title,
                text,
                charts.bars(
                    counts, column, "customers", f"Customers per {title.lower()}", "customers"
                ),
                counts,
                ("customer_share",),
            )
        )
    return page


AREAS: tuple[Callable[[duckdb.DuckDBPyConnection, Path], Page], ...] = (
    attribution_page,
    uplift_page,
    models_page,
    segments_page,
)


def _html_table(frame: pl.DataFrame, rates: tuple[str, ...]) -> str:
    from markupsafe import escape

    shown = display.formatted(frame.head(60), rate_columns=rates)
    head = "".join(f"<th>{escape(c)}</th>" for c in shown.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>"
        for row in shown.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def write_report(
    con: duckdb.DuckDBPyConnection, models_dir: Path, out_dir: Path, source: str
) -> list[Path]:
    """Every area's page and an index in `out_dir`; returns the files written."""
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True)
    template = env.get_template("page.html.j2")
    pages = [area(con, models_dir) for area in AREAS]
    index = Page("index.html", "Overview")
    for p in pages:
        index.figures += [(f"{p.title}: {label}", value) for label, value in p.figures[:2]]
        index.sections += [
            Section(f"{p.title}: {s.title}", s.text, s.chart, missing=s.missing)
            for s in p.sections[:1]
        ]
    out_dir.mkdir(parents=True, exist_ok=True)
    built_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    written = []
    for page in [index, *pages]:
        html = template.render(
            title=page.title,
            file=page.file,
            pages=[index, *pages],
            figures=page.figures,
            built_at=built_at,
            source=source,
            sections=[
                {
                    "title": s.title,
                    "anchor": s.anchor,
                    "text": s.text,
                    "chart": base64.b64encode(s.chart).decode() if s.chart else None,
                    "table": Markup(_html_table(s.table, s.rates)) if s.table is not None else None,
                    "missing": s.missing,
                }
                for s in page.sections
            ],
        )
        path = out_dir / page.file
        path.write_text(html)
        written.append(path)
    return written
