{#
  Daily seller feature snapshots for Feast, from data up to the end of each date only. Sellers are
  few (~1 per 200 customers), so this is a plain dense grid (seller x date from joining, or the
  grid's first date) with window sums over the last 30 rows = 30 days. The grid's first date is
  the data's, or in an incremental run 30 days before its window (macros/date_window.sql).
  live_products counts products listed by that date (the contract has no delisting).
#}

with

sellers as (
    select * from {{ ref('int_sellers__conformed') }}
),

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

event_days as (
    select
        p.seller_id,
        e.event_date as activity_date,
        count(*) filter (where e.event_type = 'view') as views,
        count(*) filter (where e.event_type = 'bookmark') as bookmarks
    from events as e
    inner join products as p using (product_id)
    where p.seller_id is not null and e.event_type in ('view', 'bookmark')
    group by all
),

order_days as (
    select
        seller_id,
        order_date as activity_date,
        count(distinct order_id) as orders,
        sum(quantity) as units,
        sum(line_amount_krw) as gmv
    from order_lines
    where seller_id is not null
    group by all
),

-- listings before the grid's first date count from that date on (live_products)
listing_days as (
    select
        p.seller_id,
        greatest(p.created_date, b.first_date) as activity_date,
        count(*) as listed_products,
        sum(p.price_krw) as listed_price_sum,
        count(p.price_krw) as listed_priced_products
    from products as p
    cross join bounds as b
    where p.seller_id is not null and p.created_date is not null
    group by all
),

activity_parts as (
    {%- set keys = ['seller_id', 'activity_date'] %}
    {{ union_all_by_name({
        'event_days': keys + ['views', 'bookmarks'],
        'order_days': keys + ['orders', 'units', 'gmv'],
        'listing_days': keys + ['listed_products', 'listed_price_sum', 'listed_priced_products'],
    }) }}
),

activity_days as (
    select
        seller_id,
        activity_date,
        coalesce(sum(views), 0) as views,
        coalesce(sum(bookmarks), 0) as bookmarks,
        coalesce(sum(orders), 0) as orders,
        coalesce(sum(units), 0) as units,
        coalesce(sum(gmv), 0) as gmv,
        coalesce(sum(listed_products), 0) as listed_products,
        coalesce(sum(listed_price_sum), 0) as listed_price_sum,
        coalesce(sum(listed_priced_products), 0) as listed_priced_products
    from activity_parts
    group by all
),

seller_spans as (
    select
        s.seller_id,
        greatest(b.first_date, least(s.joined_date, f.first_activity_date)) as grid_start_date,
        b.last_date
    from sellers as s
    left join (
        select seller_id, min(activity_date) as first_activity_date
        from activity_days
        group by seller_id
    ) as f using (seller_id)
    cross join bounds as b
    where coalesce(s.joined_date, f.first_activity_date) is not null
),

grid as (
    select
        seller_id,
        {{ date_series('grid_start_date', 'last_date') }} as snapshot_date
    from seller_spans
),

daily as (
    select
        g.seller_id,
        g.snapshot_date,
        coalesce(a.views, 0) as views,
        coalesce(a.bookmarks, 0) as bookmarks,
        coalesce(a.orders, 0) as orders,
        coalesce(a.units, 0) as units,
        coalesce(a.gmv, 0) as gmv,
        coalesce(a.listed_products, 0) as listed_products,
        coalesce(a.listed_price_sum, 0) as listed_price_sum,
        coalesce(a.listed_priced_products, 0) as listed_priced_products
    from grid as g
    left join activity_days as a
        on a.seller_id = g.seller_id and a.activity_date = g.snapshot_date
),

windowed as (
    select
        seller_id,
        snapshot_date,
        sum(views) over last_7_days as views_7d,
        sum(views) over last_30_days as views_30d,
        sum(bookmarks) over last_30_days as bookmarks_30d,
        sum(orders) over last_7_days as orders_7d,
        sum(orders) over last_30_days as orders_30d,
        sum(units) over last_30_days as units_30d,
        sum(gmv) over last_7_days as gmv_7d,
        sum(gmv) over last_30_days as gmv_30d,
        sum(listed_products) over last_30_days as new_products_30d,
        -- listings before the grid's first date are counted on it (see activity_parts)
        sum(listed_products) over to_date as live_products,
        sum(listed_price_sum) over to_date as live_price_sum,
        sum(listed_priced_products) over to_date as live_priced_products
    from daily
    window
        last_7_days as (
            partition by seller_id order by snapshot_date rows between 6 preceding and current row
        ),
        last_30_days as (
            partition by seller_id order by snapshot_date rows between 29 preceding and current row
        ),
        to_date as (
            partition by seller_id order by snapshot_date
            rows between unbounded preceding and current row
        )
),

final as (
    select
        w.seller_id,
        w.snapshot_date,
        d.day_end_at as event_timestamp,
        cast('{{ run_started_at.strftime('%Y-%m-%d %H:%M:%S') }}' as timestamp) as created_timestamp,
        s.style,
        cast({{ days_between('s.joined_date', 'w.snapshot_date') }} as integer) as tenure_days,
        cast(w.live_products as integer) as live_products,
        cast(w.new_products_30d as integer) as new_products_30d,
        cast(w.live_price_sum / nullif(w.live_priced_products, 0) as double) as avg_price_krw,
        cast(w.views_7d as integer) as views_7d,
        cast(w.views_30d as integer) as views_30d,
        cast(w.bookmarks_30d as integer) as bookmarks_30d,
        cast(w.orders_7d as integer) as orders_7d,
        cast(w.orders_30d as integer) as orders_30d,
        cast(w.units_30d as integer) as units_30d,
        cast(w.gmv_7d as double) as gmv_7d_krw,
        cast(w.gmv_30d as double) as gmv_30d_krw,
        cast(w.orders_30d / nullif(w.views_30d, 0) as double) as conversion_rate_30d
    from windowed as w
    inner join sellers as s using (seller_id)
    inner join dates as d on d.calendar_date = w.snapshot_date
    where {{ in_date_window('w.snapshot_date') }}
)

select * from final
