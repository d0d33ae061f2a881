{#
  The conversion-tracking scale: one row per business date x channel x campaign x creative, paid
  and CRM alike, from the platform's own data. Campaign and creative are null where the source
  has no such detail (spend is per campaign; organic traffic has neither).

  - impressions, clicks, sends, opens: logged marketing touches.
  - reported_impressions, reported_clicks, installs, spend_krw: the channels' own reports
    (marketing_spend), per campaign (creative null).
  - sessions: sessions by their UTM channel, campaign and creative (untagged: organic).
  - sign_ups: customers by sign-up date and acquisition channel, with the campaign and creative of
    their first session when it came through that channel.
  - first_orders, repeat_orders, revenue_krw: orders by the channel of the session they were placed
    in (last touch within the session; int_orders__enriched). Every order is counted once, so
    revenue sums to silver's order amounts.

  Incremental by activity_date (macros/date_window.sql): a window run rebuilds the window's dates
  and any earlier sign-up date whose sign-ups changed (a customer's first session arriving in
  the window, an updated customer export): conversion_rebuilt_dates() below.
#}

{{ config(
    unique_key='activity_date',
    partition_by=daily_partition_by('activity_date'),
) }}

{%- set rebuilt = conversion_rebuilt_dates() %}

with

touches as (
    select * from {{ ref('int_touches__conformed') }}
    where {{ in_dates('touch_date', rebuilt) }}
),

spend as (
    select * from {{ ref('stg_raw__marketing_spend') }}
    where {{ in_dates(adapter.quote('date'), rebuilt) }}
),

sessions as (
    select * from {{ ref('int_sessions__attributed') }}
    where {{ in_dates('session_date', rebuilt) }}
),

orders as (
    select * from {{ ref('int_orders__enriched') }}
    where {{ in_dates('order_date', rebuilt) }}
),

taxonomy as (
    select * from {{ ref('channel_taxonomy') }}
),

touch_metrics as (
    select
        touch_date as activity_date,
        channel,
        campaign_id,
        creative_id,
        count(*) filter (where touch_type = 'impression') as impressions,
        count(*) filter (where touch_type = 'click') as clicks,
        count(*) filter (where touch_type = 'send') as sends,
        count(*) filter (where touch_type = 'open') as opens
    from touches
    group by all
),

spend_metrics as (
    select
        {{ adapter.quote('date') }} as activity_date,
        channel,
        campaign_id,
        null as creative_id,
        sum(impressions) as reported_impressions,
        sum(clicks) as reported_clicks,
        sum(installs) as installs,
        sum(spend) as spend_krw
    from spend
    group by all
),

session_metrics as (
    select
        session_date as activity_date,
        channel,
        campaign_id,
        creative_id,
        count(*) as sessions
    from sessions
    group by all
),

sign_up_metrics as (
    {{ conversion_sign_up_metrics() }}
    {%- if rebuilt is not none %}
    where {{ in_dates('c.signed_up_date', rebuilt) }}
    {%- endif %}
    group by all
),

order_metrics as (
    select
        order_date as activity_date,
        channel,
        campaign_id,
        creative_id,
        count(*) filter (where is_first_order) as first_orders,
        count(*) filter (where not is_first_order) as repeat_orders,
        sum(order_amount_krw) as revenue_krw,
        sum(order_amount_krw) filter (where is_first_order) as first_order_revenue_krw
    from orders
    group by all
),

all_metrics as (
    {%- set keys = ['activity_date', 'channel', 'campaign_id', 'creative_id'] %}
    {{ union_all_by_name({
        'touch_metrics': keys + ['impressions', 'clicks', 'sends', 'opens'],
        'spend_metrics': keys + ['reported_impressions', 'reported_clicks', 'installs', 'spend_krw'],
        'session_metrics': keys + ['sessions'],
        'sign_up_metrics': keys + ['sign_ups'],
        'order_metrics': keys + [
            'first_orders', 'repeat_orders', 'revenue_krw', 'first_order_revenue_krw',
        ],
    }) }}
),

tracked as (
    select
        activity_date,
        channel,
        campaign_id,
        creative_id,
        cast(coalesce(sum(impressions), 0) as bigint) as impressions,
        cast(coalesce(sum(clicks), 0) as bigint) as clicks,
        cast(coalesce(sum(sends), 0) as bigint) as sends,
        cast(coalesce(sum(opens), 0) as bigint) as opens,
        cast(coalesce(sum(reported_impressions), 0) as bigint) as reported_impressions,
        cast(coalesce(sum(reported_clicks), 0) as bigint) as reported_clicks,
        cast(coalesce(sum(installs), 0) as bigint) as installs,
        cast(coalesce(sum(sessions), 0) as bigint) as sessions,
        cast(coalesce(sum(sign_ups), 0) as bigint) as sign_ups,
        cast(coalesce(sum(first_orders), 0) as bigint) as first_orders,
        cast(coalesce(sum(repeat_orders), 0) as bigint) as repeat_orders,
        cast(coalesce(sum(revenue_krw), 0) as double) as revenue_krw,
        cast(coalesce(sum(first_order_revenue_krw), 0) as double) as first_order_revenue_krw,
        cast(coalesce(sum(spend_krw), 0) as double) as spend_krw
    from all_metrics
    where activity_date is not null
    group by all
),

final as (
    select
        t.activity_date,
        t.channel,
        x.channel_group,
        x.is_paid as is_paid_channel,
        t.campaign_id,
        t.creative_id,
        {{ star_except(['activity_date', 'channel', 'campaign_id', 'creative_id'], 't') }},
        t.first_orders + t.repeat_orders as orders
    from tracked as t
    left join taxonomy as x using (channel)
)

select * from final
