{#
  Customer journeys for attribution: one row per customer touch, and one per conversion (order),
  in time order.

  Touches are the logged marketing touches (impression, click, send, open) and the UTM-tagged
  sessions (touch_type 'visit'); filter touch_type to model a subset. Each order closes a journey:
  the customer's touches after the previous order, up to and including the order, that fall within
  var('attribution_lookback_days') (default 30) before it. Older touches in that stretch form a
  non-converting 'lapsed' journey; touches after the last order form the open (non-converting)
  journey. A touch at the same instant as an order belongs to that order's journey.

  Incremental by customer (macros/journey_tail.sql): a row's journey is fixed once the order
  after it is known, so a window run rebuilds, for the customers with a touch, visit or order in
  the window, only their rows after their last order before the window (the "tail": their open
  journey, and whatever the window's orders close); every other row stays. On Spark (no delete
  on plain Parquet tables) the model is rebuilt whole.
#}

{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    incremental_strategy='append',
    pre_hook="{{ journey_tail_delete() }}",
    meta={'window_column': 'touch_date'},
) }}

{%- set lookback_days = var('attribution_lookback_days', 30) -%}
{%- set tail = window_active() %}

with

{% if tail -%}
cutoffs as (
    {{ journey_tail_cutoffs() }}
),
{%- endif %}

touches as (
    select t.* from {{ ref('int_touches__conformed') }} as t
    {{ journey_tail_join('t.touched_at') if tail }}
),

sessions as (
    select t.* from {{ ref('int_sessions__attributed') }} as t
    {{ journey_tail_join('t.started_at') if tail }}
),

orders as (
    select t.* from {{ ref('int_orders__enriched') }} as t
    {{ journey_tail_join('t.ordered_at') if tail }}
),

touch_rows as (
    select
        customer_id,
        touch_id,
        touched_at,
        channel,
        campaign_id,
        creative_id,
        touch_type,
        cast(null as string) as order_id
    from touches
    union all
    select
        customer_id,
        'visit:' || session_id as touch_id,
        started_at as touched_at,
        channel,
        campaign_id,
        creative_id,
        'visit' as touch_type,
        null as order_id
    from sessions
    where has_utm
),

conversion_rows as (
    select
        customer_id,
        'order:' || order_id as touch_id,
        ordered_at as touched_at,
        channel,
        campaign_id,
        creative_id,
        'conversion' as touch_type,
        order_id
    from orders
),

timeline as (
    select * from touch_rows
    union all
    select * from conversion_rows
),

with_next_order as (
    -- for every row, the customer's first order at or after it (touches sort before an order at
    -- the same instant)
    select
        *,
        {{ first_value_ignore_nulls('order_id') }} over following as next_order_id,
        {{ first_value_ignore_nulls('case when order_id is not null then touched_at end') }}
            over following as next_ordered_at
    from timeline
    window following as (
        partition by customer_id
        order by touched_at, order_id nulls first, touch_id
        rows between current row and unbounded following
    )
),

assigned as (
    select
        *,
        case
            when next_order_id is null then 'open'
            when next_ordered_at - touched_at > interval {{ lookback_days }} day then 'lapsed'
            else 'converted'
        end as journey_status
    from with_next_order
),

journeys as (
    select
        a.*,
        case a.journey_status
            when 'open' then a.customer_id || '|open'
            when 'lapsed' then a.customer_id || '|' || a.next_order_id || '|lapsed'
            else a.customer_id || '|' || a.next_order_id
        end as journey_id,
        a.journey_status = 'converted' as is_converted,
        case when a.journey_status = 'converted' then a.next_order_id end as journey_order_id
    from assigned as a
),

final as (
    select
        j.customer_id,
        j.journey_id,
        cast(row_number() over (
            partition by j.journey_id order by j.touched_at, j.order_id nulls first, j.touch_id
        ) as integer) as touch_number,
        cast(count(*) over (partition by j.journey_id) as integer) as journey_touches,
        j.touch_id,
        j.touched_at,
        {{ business_date('j.touched_at') }} as touch_date,
        j.channel,
        j.campaign_id,
        j.creative_id,
        j.touch_type,
        j.touch_type = 'conversion' as is_conversion,
        j.journey_status,
        j.is_converted,
        j.journey_order_id as order_id,
        o.order_amount_krw as revenue_krw,
        o.is_first_order as is_first_purchase,
        cast({{ seconds_between('j.touched_at', 'o.ordered_at') }} as double) / 86400
            as days_before_conversion
    from journeys as j
    left join orders as o on o.order_id = j.journey_order_id
)

select * from final
