{# Products with their attributes and lifetime engagement and sales up to the end of the data. #}

with

products as (
    select * from {{ ref('int_products__conformed') }}
),

events as (
    select * from {{ ref('int_events__cleaned') }}
),

order_lines as (
    select * from {{ ref('int_order_lines__joined') }}
),

engagement as (
    select
        product_id,
        count(*) filter (where event_type = 'view') as lifetime_views,
        count(*) filter (where event_type = 'bookmark') as lifetime_bookmarks,
        count(*) filter (where event_type = 'add_to_cart') as lifetime_add_to_carts
    from events
    where product_id is not null
    group by product_id
),

sales as (
    select
        product_id,
        count(distinct order_id) as lifetime_orders,
        sum(quantity) as lifetime_units,
        sum(line_amount_krw) as lifetime_revenue_krw,
        min(ordered_at) as first_ordered_at
    from order_lines
    group by product_id
),

final as (
    select
        p.product_id,
        p.seller_id,
        p.category_l1,
        p.category_l2,
        p.price_krw,
        p.price_band,
        p.style,
        p.created_at,
        p.created_date,
        p.has_product_record,
        coalesce(e.lifetime_views, 0) as lifetime_views,
        coalesce(e.lifetime_bookmarks, 0) as lifetime_bookmarks,
        coalesce(e.lifetime_add_to_carts, 0) as lifetime_add_to_carts,
        coalesce(s.lifetime_orders, 0) as lifetime_orders,
        coalesce(s.lifetime_units, 0) as lifetime_units,
        coalesce(s.lifetime_revenue_krw, 0) as lifetime_revenue_krw,
        s.first_ordered_at
    from products as p
    left join engagement as e using (product_id)
    left join sales as s using (product_id)
)

select * from final
