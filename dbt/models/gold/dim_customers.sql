{#
  Customers with their current profile (the latest version: consent, region, time zone, ...) and
  lifetime totals up to the end of the data. (For values as of a past date, use
  feat_customer__daily: this table looks at all the data.)
#}

with

customers as (
    select * from {{ ref('int_customers__conformed') }}
),

orders as (
    select * from {{ ref('int_orders__enriched') }}
),

sessions as (
    select * from {{ ref('int_sessions__attributed') }}
),

dates as (
    select * from {{ ref('dim_dates') }}
),

order_totals as (
    select
        customer_id,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at,
        count(*) as lifetime_orders,
        sum(order_amount_krw) as lifetime_revenue_krw
    from orders
    group by customer_id
),

session_totals as (
    select
        customer_id,
        min(started_at) as first_session_at,
        max(started_at) as last_session_at,
        count(*) as lifetime_sessions
    from sessions
    group by customer_id
),

final as (
    select
        c.customer_id,
        c.has_profile,
        c.signed_up_at,
        c.signed_up_date,
        c.gender,
        c.birth_year,
        {{ age_band('c.birth_year', '(select max(calendar_date) from dates)') }} as age_band,
        c.region,
        c.has_marketing_consent,
        c.has_night_consent,
        c.time_zone,
        c.profile_valid_from,
        c.acquisition_channel,
        o.first_ordered_at,
        {{ business_date('o.first_ordered_at') }} as first_order_date,
        o.last_ordered_at,
        {{ business_date('o.last_ordered_at') }} as last_order_date,
        coalesce(o.lifetime_orders, 0) as lifetime_orders,
        coalesce(o.lifetime_revenue_krw, 0) as lifetime_revenue_krw,
        s.first_session_at,
        s.last_session_at,
        coalesce(s.lifetime_sessions, 0) as lifetime_sessions,
        coalesce(o.lifetime_orders, 0) > 0 as is_buyer,
        coalesce(o.lifetime_orders, 0) > 1 as is_repeat_buyer
    from customers as c
    left join order_totals as o using (customer_id)
    left join session_totals as s using (customer_id)
)

select * from final
