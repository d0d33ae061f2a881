"""The conversion-tracking report: gold.fct_conversion_tracking (by day, channel, campaign and
creative) with each campaign's parsed name and the ratios marketers read: CTR, CVR, CPI, CAC,
ROAS. Campaign names that break the naming convention are listed with the reason
(gold.dim_campaigns parses them; nothing is dropped)."""

from __future__ import annotations

import duckdb
import polars as pl

# Ratios are null where their denominator is 0. Clicks over impressions are the channels' own
# figures where the spend report has them (impressions are not all logged as touches), else the
# logged touches; CVR is orders per session.
_RATIOS = """
    clicks_for_ctr / nullif(impressions_for_ctr, 0) as ctr,
    orders / nullif(sessions, 0) as cvr,
    spend_krw / nullif(installs, 0) as cpi_krw,
    spend_krw / nullif(first_orders, 0) as cac_krw,
    revenue_krw / nullif(spend_krw, 0) as roas
"""

_MEASURES = """
    cast(sum(t.impressions) as bigint) as impressions,
    cast(sum(t.clicks) as bigint) as clicks,
    cast(sum(t.sends) as bigint) as sends,
    cast(sum(t.opens) as bigint) as opens,
    cast(sum(t.sessions) as bigint) as sessions,
    cast(sum(t.sign_ups) as bigint) as sign_ups,
    cast(sum(t.installs) as bigint) as installs,
    cast(sum(t.first_orders) as bigint) as first_orders,
    cast(sum(t.repeat_orders) as bigint) as repeat_orders,
    cast(sum(t.orders) as bigint) as orders,
    cast(sum(t.revenue_krw) as double) as revenue_krw,
    cast(sum(t.spend_krw) as double) as spend_krw,
    greatest(sum(t.clicks), sum(t.reported_clicks)) as clicks_for_ctr,
    greatest(sum(t.impressions), sum(t.reported_impressions)) as impressions_for_ctr
"""

REPORT_SQL = f"""
with daily as (
    select
        t.activity_date,
        t.channel,
        t.campaign_id,
        t.creative_id,
        c.campaign_name,
        c.name_objective,
        c.name_date,
        c.name_audience,
        c.name_label,
        c.is_name_valid,
        c.name_errors,
        {_MEASURES}
    from gold.fct_conversion_tracking as t
    left join gold.dim_campaigns as c using (campaign_id)
    group by all
)
select * exclude (clicks_for_ctr, impressions_for_ctr), {_RATIOS}
from daily
order by activity_date, channel, campaign_id nulls first, creative_id nulls first
"""


def report_relation(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
    """One row per business date x channel x campaign x creative with the ratios."""
    return con.sql(REPORT_SQL)


def summary(con: duckdb.DuckDBPyConnection, by: str = "channel") -> pl.DataFrame:
    """Totals and ratios over the whole period, by 'channel' or 'campaign'."""
    keys = "t.channel" if by == "channel" else "t.channel, t.campaign_id, c.campaign_name"
    order = "channel" if by == "channel" else "channel, campaign_id"
    return con.sql(
        f"""
        with totals as (
            select {keys}, {_MEASURES}
            from gold.fct_conversion_tracking as t
            left join gold.dim_campaigns as c using (campaign_id)
            {"where t.campaign_id is not null" if by != "channel" else ""}
            group by all
        )
        select * exclude (clicks_for_ctr, impressions_for_ctr), {_RATIOS}
        from totals
        order by spend_krw desc, revenue_krw desc, {order}
        """
    ).pl()


def malformed_campaign_names(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Campaigns whose name breaks {channel}_{objective}_{yyyymmdd}_{audience}_{label}, with
    every reason (gold.dim_campaigns.name_errors)."""
    return con.sql(
        """
        select campaign_id, campaign_name, channel, name_error as reason, name_errors as reasons,
            has_campaign_record
        from gold.dim_campaigns
        where not is_name_valid
        order by campaign_id
        """
    ).pl()
