-- Conversion tracking credits every order exactly once (organic rows included): its revenue and
-- order counts equal silver's orders. Returns a row when they differ.
-- Shown in Dagster as a check on fct_conversion_tracking (a singular test reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'fct_conversion_tracking'}}}) }}
with

tracked as (
    select
        coalesce(sum(revenue_krw), 0) as revenue_krw,
        coalesce(sum(orders), 0) as orders,
    from {{ ref('fct_conversion_tracking') }}
),

silver as (
    select
        coalesce(sum(order_amount_krw), 0) as revenue_krw,
        count(*) as orders,
    from {{ ref('int_orders__enriched') }}
)

select
    tracked.revenue_krw as tracked_revenue_krw,
    silver.revenue_krw as silver_revenue_krw,
    tracked.orders as tracked_orders,
    silver.orders as silver_orders,
from tracked
cross join silver
-- 1 KRW of slack for floating-point summation order
where abs(tracked.revenue_krw - silver.revenue_krw) > 1
    or tracked.orders != silver.orders
