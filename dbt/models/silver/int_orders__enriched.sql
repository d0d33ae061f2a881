{#
  Orders with their business date, the customer's order sequence, the coupon discount and the
  session (and so channel, campaign and creative) they are attributed to.

  Attribution is last touch within the session: the order's own session; for an order without
  one, the customer's latest session that started up to a day before the order and had not ended
  more than 30 minutes (the usual session timeout) before it. No session: organic.

  Coupon discount: the order lines' total minus the amount paid when the order has lines; else
  from the coupon's terms (a fixed amount, or a percentage of the pre-discount amount).

  Incremental by order_date (macros/date_window.sql): a window's orders continue the customer's
  sequence from the orders before it.
#}

{{ config(
    unique_key='order_date',
    partition_by=daily_partition_by('order_date'),
) }}

with

orders as (
    select * from {{ ref('stg_raw__orders') }}
    where {{ in_date_window_utc('ordered_at') }}
),

order_items as (
    select * from {{ ref('stg_raw__order_items') }}
    {%- if window_active() %}
    where order_id in (select order_id from orders)
    {%- endif %}
),

-- the customer's orders before the window (none when every date is built)
earlier_orders as (
    {%- if window_active() %}
    select
        customer_id,
        count(*) as orders_before,
        max(ordered_at) as last_ordered_at,
        max(order_date) as last_order_date
    from {{ this }}
    where order_date < {{ window_start_literal() }}
    group by customer_id
    {%- else %}
    select
        customer_id,
        0 as orders_before,
        ordered_at as last_ordered_at,
        cast(ordered_at as date) as last_order_date
    from orders
    where false
    {%- endif %}
),

coupons as (
    select * from {{ ref('stg_raw__coupons') }}
),

sessions as (
    select * from {{ ref('int_sessions__attributed') }}
),

item_totals as (
    select
        order_id,
        sum(quantity * unit_price) as items_amount,
        sum(quantity) as units
    from order_items
    group by order_id
),

own_sessions as (
    select
        o.order_id,
        s.session_id
    from orders as o
    inner join sessions as s on s.session_id = o.session_id
),

inferred_sessions as (
    -- the latest candidate per order (a ranked subquery, not `qualify`, which Spark lacks)
    select order_id, session_id
    from (
        select
            o.order_id,
            s.session_id,
            row_number() over (
                partition by o.order_id order by s.started_at desc, s.session_id desc
            ) as candidate_rank
        from orders as o
        inner join sessions as s
            on s.customer_id = o.customer_id
            and s.started_at <= o.ordered_at
            and s.started_at >= o.ordered_at - interval 1 day
            and coalesce(s.ended_at, s.started_at) >= o.ordered_at - interval 30 minute
        where o.order_id not in (select order_id from own_sessions)
    ) as candidates
    where candidate_rank = 1
),

attributed_sessions as (
    select order_id, session_id, 'order_session' as attribution_source from own_sessions
    union all
    select order_id, session_id, 'inferred_session' as attribution_source from inferred_sessions
),

enriched as (
    select
        o.order_id,
        o.customer_id,
        o.ordered_at,
        {{ business_date('o.ordered_at') }} as order_date,
        o.order_amount as order_amount_krw,
        i.items_amount as items_amount_krw,
        i.units,
        o.coupon_id,
        o.coupon_id is not null as has_coupon,
        c.campaign_id as coupon_campaign_id,
        case
            when o.coupon_id is null then 0
            when i.items_amount >= o.order_amount then i.items_amount - o.order_amount
            when c.discount_type = 'fixed' then c.discount_value
            when c.discount_type = 'percent' and c.discount_value < 100
                then round(o.order_amount * c.discount_value / (100 - c.discount_value))
        end as coupon_discount_krw,
        -- the order's own session_id when silver knows that session
        case when a.attribution_source = 'order_session' then a.session_id end as session_id,
        a.session_id as attributed_session_id,
        coalesce(a.attribution_source, 'none') as attribution_source,
        coalesce(s.channel, 'organic') as channel,
        coalesce(s.channel_group, 'organic') as channel_group,
        coalesce(s.is_paid_channel, false) as is_paid_channel,
        s.campaign_id,
        s.creative_id
    from orders as o
    left join item_totals as i using (order_id)
    left join coupons as c using (coupon_id)
    left join attributed_sessions as a using (order_id)
    left join sessions as s on s.session_id = a.session_id
),

final as (
    select
        o.*,
        coalesce(b.orders_before, 0) + row_number() over (
            partition by o.customer_id order by o.ordered_at, o.order_id
        ) as customer_order_number,
        coalesce(b.orders_before, 0) + row_number() over (
            partition by o.customer_id order by o.ordered_at, o.order_id
        ) = 1 as is_first_order,
        coalesce(
            lag(o.ordered_at) over (partition by o.customer_id order by o.ordered_at, o.order_id),
            b.last_ordered_at
        ) as previous_ordered_at,
        {{ days_between(
            'coalesce(lag(o.order_date) over ('
            ~ 'partition by o.customer_id order by o.ordered_at, o.order_id), b.last_order_date)',
            'o.order_date'
        ) }} as days_since_previous_order
    from enriched as o
    left join earlier_orders as b on b.customer_id = o.customer_id
)

select * from final
