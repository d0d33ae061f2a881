{#
  Campaign responses for uplift measurement: one row per campaign audience assignment (treatment
  or holdout). Outcomes count the customer's orders in the response window: after assignment and
  within var('campaign_response_days') (default 7) days of it. The window starts at assignment,
  not at sending, so the holdout (never sent) is measured over the same window as the treatment.
  is_window_complete is false while the window reaches past the end of the data.
#}

{%- set response_days = var('campaign_response_days', 7) -%}

with

sends as (
    select * from {{ ref('int_campaign_sends__conformed') }}
),

orders as (
    select * from {{ ref('int_orders__enriched') }}
),

campaigns as (
    select * from {{ ref('int_campaigns__named') }}
),

dates as (
    select * from {{ ref('dim_dates') }}
),

data_end as (
    select max(day_end_at) as data_end_at from dates
),

responses as (
    select
        s.send_id,
        count(o.order_id) as orders,
        sum(o.order_amount_krw) as revenue_krw,
        count(o.order_id) filter (where o.coupon_campaign_id = s.campaign_id) as coupon_orders,
        min(o.ordered_at) as first_ordered_at
    from sends as s
    inner join orders as o
        on o.customer_id = s.customer_id
        and o.ordered_at > s.assigned_at
        and o.ordered_at <= s.assigned_at + interval {{ response_days }} day
    group by s.send_id
),

final as (
    select
        s.send_id,
        s.campaign_id,
        s.customer_id,
        s.channel,
        c.objective,
        s.assignment_group,
        s.is_treatment,
        s.assigned_at,
        s.assigned_date,
        s.sent_at,
        s.is_sent,
        s.assigned_at + interval {{ response_days }} day as response_window_end_at,
        s.assigned_at + interval {{ response_days }} day <= d.data_end_at as is_window_complete,
        coalesce(r.orders, 0) > 0 as is_converted,
        coalesce(r.orders, 0) as orders,
        coalesce(r.revenue_krw, 0) as revenue_krw,
        coalesce(r.coupon_orders, 0) as coupon_orders,
        r.first_ordered_at
    from sends as s
    left join campaigns as c using (campaign_id)
    left join responses as r using (send_id)
    cross join data_end as d
)

select * from final
