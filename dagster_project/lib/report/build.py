"""Building the report's pages: each area (attribution, uplift, models, segments, budget,
forecast) is a function
from the warehouse (and the registry) to sections of text, chart and table. An area whose tables
are absent (e.g. an orders-only export has no touches to attribute) says what it needs.

To add an area: write a function returning a Page (`_page_or_missing` when one table decides
whether there is anything to show) and add it to AREAS."""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from dagster_project.lib import charts, display
from dagster_project.lib.warehouse import has_table


@dataclass
class Section:
    title: str
    text: str
    chart: bytes | None = None
    table: pl.DataFrame | None = None
    rates: tuple[str, ...] = ()
    money: tuple[str, ...] = ()  # besides the columns ending in _krw
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


AreaBuild = Callable[[duckdb.DuckDBPyConnection, Path, Page], None]


def _page_or_missing(
    file: str, title: str, relation: str, what: str
) -> Callable[[AreaBuild], Callable[[duckdb.DuckDBPyConnection, Path], Page]]:
    """An area whose every section needs `relation`: the built page when it is in the
    warehouse, else a page whose one section says what the area shows (`what`) and that
    `relation` is missing."""

    def area(build: AreaBuild) -> Callable[[duckdb.DuckDBPyConnection, Path], Page]:
        @functools.wraps(build)
        def page(con: duckdb.DuckDBPyConnection, models_dir: Path) -> Page:
            built = Page(file, title)
            if has_table(con, relation):
                build(con, models_dir, built)
            else:
                missing = f"{relation} is not in the warehouse (build it first)"
                built.sections.append(Section(title, what, missing=missing))
            return built

        return page

    return area


@_page_or_missing(
    "attribution.html",
    "Attribution and ROAS",
    "gold.attribution_credit",
    "Conversions credited to channels by each attribution model, and ROAS by channel.",
)
def attribution_page(con: duckdb.DuckDBPyConnection, models_dir: Path, page: Page) -> None:
    from dagster_project.lib.attribution import report

    title = "Conversions credited per channel"
    text = (
        "Each model shares out the same conversions between channels; the (baseline) row is what "
        "would have happened without marketing. Last click credits whoever touched the customer "
        "last; the incrementality-aware model credits only what the marketing caused, the "
        "figure the budget should follow."
    )
    credit = con.sql("select * from gold.attribution_credit").pl()
    matrix = report.channel_matrix(credit)
    shown = [
        m for m in ("last_click", "markov_1", "shapley", "incrementality") if m in matrix.columns
    ]
    if not (shown and matrix.height):
        page.sections.append(Section(title, text, missing="no conversions credited yet"))
        return
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


@_page_or_missing(
    "uplift.html",
    "Campaign uplift",
    "gold.campaign_uplift",
    "Each executed campaign's treatment against its holdout, and the campaigns to stop.",
)
def uplift_page(con: duckdb.DuckDBPyConnection, models_dir: Path, page: Page) -> None:
    from dagster_project.lib.uplift.measure import (
        RATE_COLUMNS,
        REPORT_COLUMNS,
        VERDICTS,
        campaigns_to_stop,
    )

    title = "Uplift per campaign"
    text = (
        "Conversion rate of the customers who got the message minus that of the holdout, with "
        "intervals that hold for all campaigns at once. Green: effective; red: harmful; grey: "
        "no effect worth a message; orange: inconclusive (a larger holdout would tell)."
    )
    uplift = con.sql("select * from gold.campaign_uplift order by conversion_diff desc").pl()
    page.figures = [
        (v.replace("_", " "), str(int((uplift["verdict"] == v).sum()))) for v in VERDICTS
    ]
    columns, rates = list(REPORT_COLUMNS), RATE_COLUMNS
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


@_page_or_missing(
    "segments.html",
    "Customer segments",
    "gold.customer_segments",
    "Customers by RFM segment, value tier and browsing type.",
)
def segments_page(con: duckdb.DuckDBPyConnection, models_dir: Path, page: Page) -> None:
    from dagster_project.lib.segments.report import shares

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


@_page_or_missing(
    "budget.html",
    "Budget plan",
    "gold.response_curves",
    "Response curves of the paid channels, the recommended budget split and its scenarios.",
)
def budget_page(con: duckdb.DuckDBPyConnection, models_dir: Path, page: Page) -> None:
    from dagster_project.lib.budget.plots import overview_png

    curves = con.sql("select * from gold.response_curves").pl()
    params = con.sql("select * from gold.response_curve_params order by channel").pl()
    current = dict(zip(params["channel"], params["current_weekly_spend_krw"], strict=True))
    plan = (
        con.sql("select * from gold.budget_plan_channels order by channel").pl()
        if has_table(con, "gold.budget_plan_channels")
        else None
    )
    recommended = (
        None
        if plan is None
        else dict(zip(plan["channel"], plan["recommended_weekly_krw"], strict=True))
    )
    page.sections.append(
        Section(
            "Response curves",
            "Per paid channel, the incremental revenue a week of spend buys (adstock and "
            "saturation fitted to the weeks' spend and the incrementality-aware attribution), "
            "with its 90 % interval. Dashed: the current weekly spend (mean of the last 13 "
            "weeks); green: the plan's recommendation. Where a curve flattens, the next won buys "
            "little.",
            overview_png(curves, current, recommended, per_row=2),
            params.select(
                "channel",
                "weeks",
                "current_weekly_spend_krw",
                "revenue_at_current_krw",
                "marginal_roas_at_current",
                "r2",
            ),
        )
    )
    title = "Recommended weekly spend per channel"
    text = (
        "The split of the budget that maximizes the objective: marginal ROAS equal across the "
        "channels no bound holds. Revenue is the incremental revenue forecast over the planned "
        "weeks with its 90 % interval."
    )
    if plan is None:
        page.sections.append(Section(title, text, missing="gold.budget_plan is not built yet"))
        return
    page.figures = [
        ("planned weekly spend (KRW)", display.money(float(plan["recommended_weekly_krw"].sum()))),
        ("current weekly spend (KRW)", display.money(float(plan["current_weekly_krw"].sum()))),
    ]
    spend = plan.select(
        "channel", current="current_weekly_krw", recommended="recommended_weekly_krw"
    )
    interval = ("revenue_krw_low", "revenue_krw_high")
    page.sections.append(
        Section(
            title,
            text,
            charts.grouped_bars(
                spend, "channel", ["current", "recommended"], title, "weekly spend (KRW)"
            ),
            plan.select(
                "channel",
                "current_weekly_krw",
                "recommended_weekly_krw",
                "change",
                "marginal_roas",
                "revenue_krw",
                *interval,
                "bound",
            ),
            ("change",),
            interval,
        )
    )
    if not has_table(con, "gold.budget_plan_scenarios"):
        return
    scenarios = con.sql("select * from gold.budget_plan_scenarios").pl()
    title = "Scenarios"
    page.sections.append(
        Section(
            title,
            "The forecast over the planned weeks under other splits: the current split at the "
            "same budget, the budget 20 % lower and higher, and each channel switched off (its "
            "budget re-planned over the rest). Bars are 90 % intervals of incremental revenue.",
            charts.intervals(
                scenarios,
                "scenario",
                "revenue_krw",
                "revenue_krw_low",
                "revenue_krw_high",
                "Incremental revenue per scenario",
                "incremental revenue over the planned weeks (KRW)",
                percent=False,
            ),
            scenarios.select(
                "scenario",
                "spend_krw",
                "revenue_krw",
                "revenue_krw_low",
                "revenue_krw_high",
                "profit_krw",
                "roas",
            ),
            money=("revenue_krw_low", "revenue_krw_high"),
        )
    )


@_page_or_missing(
    "forecast.html",
    "Demand forecast",
    "gold.demand_forecast",
    "Daily sales per category for the coming days, its backtest, and the upcoming dips.",
)
def forecast_page(con: duckdb.DuckDBPyConnection, models_dir: Path, page: Page) -> None:
    from dagster_project.lib.forecast.backtest import summarize
    from dagster_project.lib.forecast.dips import DIP_THRESHOLD, demand_dips
    from dagster_project.lib.forecast.report import forecast_chart

    ahead = con.sql("select * from gold.demand_forecast order by series, date").pl()
    measure = ahead["measure"][0] if ahead.height else "revenue_krw"
    page.figures = [
        ("series", str(ahead["series"].n_unique())),
        ("forecast from", str(ahead["date"].min())),
    ]
    title = "Demand forecast"
    text = (
        "Daily sales per category for the coming days: the global LightGBM forecast (line) with "
        "its 80 % interval (band), after the last eight weeks of actual sales (dots). Dates are "
        "business days in Korea (KST)."
    )
    if not (ahead.height and has_table(con, "gold.daily_category_sales")):
        missing = "no forecast rows, or gold.daily_category_sales is not in the warehouse"
        page.sections.append(Section(title, text, missing=missing))
    else:
        daily = con.sql("select * from gold.daily_category_sales").pl()
        page.sections.append(Section(title, text, forecast_chart(daily, ahead, measure)))
    title = "Backtest against seasonal naive and ETS"
    text = (
        "Rolling-origin backtest over the last weeks of history: every day an origin, each "
        "horizon (1, 7 and 28 days ahead) scored by MASE (below 1 beats the weekly naive "
        "forecast in sample) and WAPE, averaged over the series."
    )
    metrics = (
        con.sql("select * from gold.demand_forecast_backtest").pl()
        if has_table(con, "gold.demand_forecast_backtest")
        else None
    )
    if metrics is None or not metrics.height:
        page.sections.append(Section(title, text, missing="too little history for a backtest"))
    else:
        summary = summarize(metrics)
        wide = summary.pivot(on="method", index="horizon", values="mase").sort("horizon")
        methods = [m for m in ("lightgbm", "ets", "seasonal_naive") if m in wide.columns]
        page.sections.append(
            Section(
                title,
                text,
                charts.grouped_bars(
                    wide.with_columns(pl.format("{}-day", "horizon").alias("horizon")),
                    "horizon",
                    methods,
                    "MASE by horizon (lower is better)",
                    "MASE",
                ),
                summary,
                ("wape",),
            )
        )
    dips = demand_dips(ahead, DIP_THRESHOLD)
    title = "Upcoming demand dips"
    text = (
        f"Days whose forecast falls below {DIP_THRESHOLD:.0%} of the category's usual day (its "
        "trailing 28-day mean), and how many customers with the highest preference for the "
        "category gold.demand_dip_targets lists for a campaign on that day."
    )
    if not dips.height:
        page.sections.append(Section(title, text, missing="no dip in the forecast horizon"))
        return
    if has_table(con, "gold.demand_dip_targets"):
        targets = con.sql(
            "select category_l1, date, count(*) as targeted_customers"
            " from gold.demand_dip_targets group by all"
        ).pl()
        dips = dips.join(targets, on=["category_l1", "date"], how="left")
    page.sections.append(
        Section(
            title,
            text,
            table=dips.drop("forecast_high"),
            rates=("dip_ratio",),
            money=("forecast", "usual_level") if measure.endswith("_krw") else (),
        )
    )


AREAS: tuple[Callable[[duckdb.DuckDBPyConnection, Path], Page], ...] = (
    attribution_page,
    uplift_page,
    models_page,
    segments_page,
    budget_page,
    forecast_page,
)


def html_table(
    frame: pl.DataFrame, rates: tuple[str, ...] = (), money: tuple[str, ...] = ()
) -> str:
    """The first 60 rows as an HTML table, formatted for display (`_krw` columns as money)."""
    from markupsafe import escape

    shown = display.formatted(frame.head(60), money_columns=money, rate_columns=rates)
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
                    "table": (
                        Markup(html_table(s.table, s.rates, s.money))
                        if s.table is not None
                        else None
                    ),
                    "missing": s.missing,
                }
                for s in page.sections
            ],
        )
        path = out_dir / page.file
        path.write_text(html)
        written.append(path)
    return written
