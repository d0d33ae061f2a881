"""The marketing report as an asset: the static HTML pages of lib/report, rebuilt after the
decision assets, under <data dir>/report (the same pages `mopt report --out DIR` writes)."""

import dagster as dg

from dagster_project.defs.attribution.assets import CREDIT_KEY, ROAS_KEY
from dagster_project.defs.budget.assets import CURVES_KEY, PLAN_KEY
from dagster_project.defs.forecast.assets import DIPS_KEY, FORECAST_KEY
from dagster_project.defs.models.assets import LTV_KEY, PURCHASE_KEY, models_dir
from dagster_project.defs.resources import Warehouse
from dagster_project.defs.segments.assets import SEGMENTS_KEY
from dagster_project.defs.uplift.assets import REPORT_KEY
from dagster_project.lib.settings import Settings


@dg.asset(
    key=["gold", "marketing_report"],
    group_name="gold",
    kinds={"html"},
    pool="duckdb",
    deps=[
        *(CREDIT_KEY, ROAS_KEY, REPORT_KEY, SEGMENTS_KEY, PURCHASE_KEY, LTV_KEY),
        *(CURVES_KEY, PLAN_KEY, FORECAST_KEY, DIPS_KEY),
    ],
)
def marketing_report(warehouse: Warehouse) -> dg.MaterializeResult:
    """The marketing report a team sends around: one static HTML page per area (attribution and
    ROAS, campaign uplift, purchase and value models, segments, budget plan, demand forecast)
    with its charts inline and a short explanation of each, plus an overview page. Areas whose
    tables are missing say so."""
    from dagster_project.lib.report.build import write_report

    out = Settings.from_env().data_dir / "report"
    with warehouse.connect(read_only=True) as con:
        pages = write_report(con, models_dir(), out, source=warehouse.duckdb_path)
    return dg.MaterializeResult(
        metadata={
            "index": dg.MetadataValue.path(str(out / "index.html")),
            "pages": len(pages),
            "size_kb": sum(p.stat().st_size for p in pages) / 1024,
        }
    )
