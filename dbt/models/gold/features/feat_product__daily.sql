{#
  Daily product feature snapshots for Feast, from data up to the end of each date only.

  Rows: a product has a row on its listing date (or the data's first date) and on every later date
  with activity (view, bookmark, add-to-cart or order) in the trailing 30 days, or within 30 days of
  listing. A catalogue grows by ~130 listings a day at 100k customers, so snapshotting every
  product every day would mostly repeat zeros; a missing row means "no activity in 30 days" (give
  the Feast view a ttl of 1 day so stale rows are not reused).

  Running totals per active product-day, a grid generated from the active days, windows as
  differences of running totals found by lagging an integer key: macros/snapshot_grid.sql.
#}

{%- set windows = [7, 30] -%}
{%- set summed = {
    'views': 'integer', 'bookmarks': 'integer', 'add_to_carts': 'integer',
    'orders': 'integer', 'units': 'integer', 'revenue': 'double',
} -%}

with

products as (
    select * from {{ ref('int_products__conformed') }}
),

-- an incremental run: the activity of its grid's days only (the features are windowed totals)
events as (
    select * from {{ ref('int_events__cleaned') }}
    where {{ in_window_grid('event_date', 30) }}
),

order_lines as (
    select * from {{ ref('int_order_lines__joined') }}
    where {{ in_window_grid('order_date', 30) }}
),

dates as (
    select * from {{ ref('dim_dates') }}
    where is_observed
),

bounds as (
    -- an incremental run's grid: its window and the longest feature window (30 days) before it
    select
        {{ window_grid_first_date('min(calendar_date)', 30) }} as first_date,
        {{ window_grid_last_date('max(calendar_date)') }} as last_date
    from dates
),

product_keys as (
    select
        product_id,
        row_number() over (order by product_id) as product_key,
        -- an integer per category (null included): cheap to partition and join on
        dense_rank() over (order by category_l1) as category_key
    from products
),

event_days as (
    select
        product_id,
        event_date as activity_date,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'bookmark') as bookmarks,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts
    from events
    where product_id is not null and event_type in ('view', 'bookmark', 'add_to_cart')
    group by all
),

order_days as (
    select
        product_id,
        order_date as activity_date,
        count(distinct order_id) as orders,
        sum(quantity) as units,
        sum(line_amount_krw) as revenue
    from order_lines
    group by all
),

activity_parts as (
    {{ union_all_by_name({
        'event_days': ['product_id', 'activity_date', 'views', 'bookmarks', 'add_to_carts'],
        'order_days': ['product_id', 'activity_date', 'orders', 'units', 'revenue'],
    }) }}
),

activity_days as (
    select
        k.product_key,
        a.activity_date,
        {{- snapshot_daily_sums(summed) }}
    from activity_parts as a
    inner join product_keys as k using (product_id)
    group by all
),

active_day_state as (
    {% call snapshot_running_state('activity_days', 'product_key', summed) %}
        product_key,
        lead(activity_date) over in_order as next_activity_date
    {% endcall %}
),

first_days as (
    select
        product_key,
        min(activity_date) as first_activity_date
    from activity_days
    group by product_key
),

product_spans as (
    -- from listing (first activity when the listing time is unknown), not before the data
    select
        k.product_key,
        k.category_key,
        greatest(b.first_date, coalesce(p.created_date, f.first_activity_date)) as grid_start_date,
        p.created_date,
        f.first_activity_date,
        b.last_date
    from products as p
    inner join product_keys as k using (product_id)
    left join first_days as f using (product_key)
    cross join bounds as b
    where coalesce(p.created_date, f.first_activity_date) is not null
),

grid as (
    {{ snapshot_grid(
        'product_key', days='active_day_state', spans='product_spans',
        carry={'last_activity_date': 'activity_date'}
    ) }}
),

grid_lagged as (
    {{ snapshot_grid_lags('grid', 'product_key', windows) }}
),

kept as (
    -- active in the trailing 30 days, or listed within them
    select
        g.*,
        c.category_key,
        c.created_date
    from grid_lagged as g
    inner join product_spans as c using (product_key)
    where {{ days_between('g.last_activity_date', 'g.snapshot_date') }} < 30
        or {{ days_between('c.created_date', 'g.snapshot_date') }} < 30
),

windowed as {{ cte_materialized() }} (
    select
        g.product_key,
        g.category_key,
        g.snapshot_date,
        g.created_date,
        {{- snapshot_window_totals(summed, windows) }}
    from kept as g
    {{ snapshot_window_joins('active_day_state', windows) }}
),

-- rank() within (date, category) by orders then views, computed over the distinct
-- (date, category, orders, views) values rather than every row: a fraction of the rows to sort
popularity as (
    select
        w.snapshot_date,
        w.category_key,
        w.orders_30d,
        w.views_30d,
        cast(1 + coalesce(sum(count(*)) over (
            partition by w.snapshot_date, w.category_key
            order by w.orders_30d desc, w.views_30d desc
            rows between unbounded preceding and 1 preceding
        ), 0) as integer) as popularity_rank_in_category
    from windowed as w
    group by w.snapshot_date, w.category_key, w.orders_30d, w.views_30d
),

final as (
    select
        k.product_id,
        w.snapshot_date,
        d.day_end_at as event_timestamp,
        cast('{{ run_started_at.strftime('%Y-%m-%d %H:%M:%S') }}' as timestamp) as created_timestamp,
        p.seller_id,
        p.category_l1,
        p.category_l2,
        p.style,
        p.price_krw,
        p.price_band,
        cast({{ days_between('w.created_date', 'w.snapshot_date') }} as integer) as age_days,
        {%- for n in windows %}
        cast(w.views_{{ n }}d as integer) as views_{{ n }}d,
        cast(w.bookmarks_{{ n }}d as integer) as bookmarks_{{ n }}d,
        cast(w.add_to_carts_{{ n }}d as integer) as add_to_carts_{{ n }}d,
        cast(w.orders_{{ n }}d as integer) as orders_{{ n }}d,
        cast(w.units_{{ n }}d as integer) as units_{{ n }}d,
        cast(w.revenue_{{ n }}d as double) as revenue_{{ n }}d_krw,
        {%- endfor %}
        cast(w.orders_30d / nullif(w.views_30d, 0) as double) as conversion_rate_30d,
        r.popularity_rank_in_category
    from windowed as w
    inner join product_keys as k using (product_key)
    inner join products as p using (product_id)
    inner join dates as d on d.calendar_date = w.snapshot_date
    inner join popularity as r
        on r.snapshot_date = w.snapshot_date
        and r.category_key = w.category_key
        and r.orders_30d = w.orders_30d
        and r.views_30d = w.views_30d
    where {{ in_date_window('w.snapshot_date') }}
)

select * from final
