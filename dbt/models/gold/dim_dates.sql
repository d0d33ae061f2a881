{#
  The calendar over the data: from the earliest date anything happened (sign-ups, listings and
  joins included) to the last date with activity (orders, sessions, events, touches, sends,
  spend). is_observed marks the activity window (from the first activity date), the dates daily
  feature snapshots are taken on; earlier dates exist for sign-up and listing dates only.
#}

with

customers as (
    select * from {{ ref('int_customers__conformed') }}
),

products as (
    select * from {{ ref('int_products__conformed') }}
),

sellers as (
    select * from {{ ref('int_sellers__conformed') }}
),

orders as (
    select * from {{ ref('int_orders__enriched') }}
),

sessions as (
    select * from {{ ref('int_sessions__attributed') }}
),

events as (
    select * from {{ ref('int_events__cleaned') }}
),

touches as (
    select * from {{ ref('int_touches__conformed') }}
),

sends as (
    select * from {{ ref('int_campaign_sends__conformed') }}
),

spend as (
    select * from {{ ref('stg_raw__marketing_spend') }}
),

holidays as (
    select * from {{ ref('kr_holidays') }}
),

activity_dates as (
    select min(order_date) as first_date, max(order_date) as last_date from orders
    union all
    select min(session_date), max(session_date) from sessions
    union all
    select min(event_date), max(event_date) from events
    union all
    select min(touch_date), max(touch_date) from touches
    union all
    select min(assigned_date), max(greatest(assigned_date, sent_date)) from sends
    union all
    select min({{ adapter.quote('date') }}), max({{ adapter.quote('date') }}) from spend
),

history_dates as (
    select min(signed_up_date) as first_date from customers
    union all
    select min(created_date) from products
    union all
    select min(joined_date) from sellers
),

bounds as (
    select
        (select min(first_date) from activity_dates) as first_observed_date,
        least(
            (select min(first_date) from activity_dates),
            (select min(first_date) from history_dates)
        ) as first_date,
        (select max(last_date) from activity_dates) as last_date
),

spine as (
    select {{ date_series('first_date', 'last_date') }} as calendar_date
    from bounds
    where last_date is not null
),

final as (
    select
        s.calendar_date,
        cast({{ iso_day_of_week('s.calendar_date') }} as integer) as day_of_week,
        {{ day_name('s.calendar_date') }} as day_name,
        {{ iso_day_of_week('s.calendar_date') }} in (6, 7) as is_weekend,
        h.holiday_date is not null as is_holiday,
        h.holiday_name,
        {{ iso_day_of_week('s.calendar_date') }} in (6, 7) or h.holiday_date is not null as is_day_off,
        cast(date_trunc('week', s.calendar_date) as date) as week_start_date,
        cast(date_trunc('month', s.calendar_date) as date) as month_start_date,
        cast(year(s.calendar_date) as integer) as calendar_year,
        cast(month(s.calendar_date) as integer) as calendar_month,
        cast(day(s.calendar_date) as integer) as day_of_month,
        s.calendar_date >= b.first_observed_date as is_observed,
        {{ business_day_start_utc('s.calendar_date') }} as day_start_at,
        {{ business_day_start_utc('s.calendar_date + 1') }} as day_end_at
    from spine as s
    cross join bounds as b
    left join holidays as h on h.holiday_date = s.calendar_date
)

select * from final
