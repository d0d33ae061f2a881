{#
  Each customer's running state on each day they were active (a session, event, order or
  purchased line): the day's activity summed into totals to date, the n-th active day, the last
  visit and order dates and the favourite category so far. feat_customer__daily builds its daily
  snapshots from these states (macros/snapshot_grid.sql).

  Incremental by activity_date (macros/date_window.sql): a window's states continue from each
  customer's last state before it, so a day's run reads the day's activity, not all of history,
  and gives the same states as a full build.
#}

{{ config(
    unique_key='activity_date',
    partition_by=daily_partition_by('activity_date'),
) }}

{#- daily activity summed into running totals, with their types -#}
{%- set summed = customer_summed_measures() -%}

with

sessions as (
    select * from {{ ref('int_sessions__attributed') }}
    where {{ in_date_window('session_date') }}
),

events as (
    select * from {{ ref('int_events__cleaned') }}
    where {{ in_date_window('event_date') }}
),

orders as (
    select * from {{ ref('int_orders__enriched') }}
    where {{ in_date_window('order_date') }}
),

order_lines as (
    select * from {{ ref('int_order_lines__joined') }}
    where {{ in_date_window('order_date') }}
),

categories as (
    select * from {{ ref('int_customer_categories__running') }}
    where {{ in_date_window('activity_date') }}
),

products as (
    select * from {{ ref('int_products__conformed') }}
),

-- activity per customer-day, one part per source --------------------------------------------

session_days as (
    select
        customer_id,
        session_date as activity_date,
        count(*) as sessions,
        sum(page_views) as page_views,
        sum(search_count) as searches,
        -- a double on every engine (Spark reads 60.0 as a decimal and rounds to its scale)
        cast(sum(duration_seconds) as double) / 60 as session_minutes,
        count(*) filter (where is_app_session) as app_sessions
    from sessions
    group by all
),

event_days as (
    select
        e.customer_id,
        e.event_date as activity_date,
        count(*) filter (where e.event_type = 'view') as product_views,
        count(*) filter (where e.event_type = 'bookmark') as bookmarks,
        count(*) filter (where e.event_type = 'add_to_cart') as add_to_carts,
        sum(p.price_krw) filter (where e.event_type = 'view') as viewed_price_sum,
        count(p.price_krw) filter (where e.event_type = 'view') as priced_views
    from events as e
    left join products as p using (product_id)
    group by all
),

order_days as (
    select
        customer_id,
        order_date as activity_date,
        count(*) as orders,
        sum(order_amount_krw) as revenue,
        count(*) filter (where has_coupon) as coupon_orders
    from orders
    group by all
),

line_days as (
    select
        customer_id,
        order_date as activity_date,
        sum(quantity) as purchased_units,
        sum(line_amount_krw) as purchased_amount
    from order_lines
    group by all
),

-- the day's best category by count to date (counts only grow, so the favourite up to a date is
-- the running maximum of these)
favourite_days as (
    select
        customer_id,
        activity_date,
        max({{ struct_from({'n': 'interactions_to_date', 'category': 'category_l1'}) }})
            as day_favourite,
        sum(interactions) as category_interactions
    from categories
    group by all
),

activity_parts as (
    {%- set keys = ['customer_id', 'activity_date'] %}
    {{ union_all_by_name({
        'session_days': keys + [
            'sessions', 'page_views', 'searches', 'session_minutes', 'app_sessions',
        ],
        'event_days': keys + [
            'product_views', 'bookmarks', 'add_to_carts', 'viewed_price_sum', 'priced_views',
        ],
        'order_days': keys + ['orders', 'revenue', 'coupon_orders'],
        'line_days': keys + ['purchased_units', 'purchased_amount'],
        'favourite_days': keys + ['category_interactions', 'day_favourite'],
    }) }}
),

activity_days as (
    select
        a.customer_id,
        a.activity_date,
        {{- snapshot_daily_sums(summed) }},
        max(a.day_favourite) as day_favourite
    from activity_parts as a
    where a.customer_id is not null and a.activity_date is not null
    group by all
),

-- each customer's last state before the window (none when every date is built)
earlier as (
    {%- if window_active() %}
    {{ last_rows_before(this, 'customer_id', 'activity_date', window_start_literal()) }}
    {%- else %}
    select
        customer_id,
        activity_date,
        0 as active_days,
        {%- for m, data_type in summed.items() %}
        cast(0 as {{ data_type }}) as total_{{ m }},
        {%- endfor %}
        activity_date as last_visit_date,
        activity_date as last_order_date,
        day_favourite.category as favourite_category_l1,
        day_favourite.n as favourite_category_interactions
    from activity_days
    where false
    {%- endif %}
),

states as (
    select
        d.customer_id,
        d.activity_date,
        cast(coalesce(e.active_days, 0) + row_number() over running as bigint) as active_days,
        {%- for m, data_type in summed.items() %}
        cast(coalesce(e.total_{{ m }}, 0) + sum(d.{{ m }}) over running as {{ data_type }})
            as total_{{ m }},
        {%- endfor %}
        coalesce(
            max(case when d.sessions > 0 then d.activity_date end) over running,
            e.last_visit_date
        ) as last_visit_date,
        coalesce(
            max(case when d.orders > 0 then d.activity_date end) over running,
            e.last_order_date
        ) as last_order_date,
        max(d.day_favourite) over running as window_favourite,
        case when e.favourite_category_l1 is not null then {{ struct_from({
            'n': 'e.favourite_category_interactions', 'category': 'e.favourite_category_l1',
        }) }} end as earlier_favourite
    from activity_days as d
    left join earlier as e on e.customer_id = d.customer_id
    window running as (
        partition by d.customer_id order by d.activity_date
        rows between unbounded preceding and current row
    )
),

favourites as (
    select
        {{ star_except(['window_favourite', 'earlier_favourite']) }},
        case
            when earlier_favourite is null or window_favourite > earlier_favourite
                then window_favourite
            else earlier_favourite
        end as favourite
    from states
),

final as (
    select
        {{ star_except(['favourite']) }},
        favourite.category as favourite_category_l1,
        cast(favourite.n as bigint) as favourite_category_interactions
    from favourites
)

select * from final
