{# Sellers with their catalogue size and lifetime sales up to the end of the data. #}

with

sellers as (
    select * from {{ ref('int_sellers__conformed') }}
),

products as (
    select * from {{ ref('int_products__conformed') }}
),

order_lines as (
    select * from {{ ref('int_order_lines__joined') }}
),

catalogue as (
    select
        seller_id,
        count(*) as products,
        median(price_krw) as median_price_krw,
        mode(category_l1) as main_category_l1
    from products
    where seller_id is not null
    group by seller_id
),

sales as (
    select
        seller_id,
        count(distinct order_id) as lifetime_orders,
        sum(quantity) as lifetime_units,
        sum(line_amount_krw) as lifetime_gmv_krw
    from order_lines
    where seller_id is not null
    group by seller_id
),

final as (
    select
        s.seller_id,
        s.seller_name,
        s.style,
        s.joined_at,
        s.joined_date,
        s.has_seller_record,
        coalesce(c.products, 0) as products,
        c.median_price_krw,
        c.main_category_l1,
        coalesce(x.lifetime_orders, 0) as lifetime_orders,
        coalesce(x.lifetime_units, 0) as lifetime_units,
        coalesce(x.lifetime_gmv_krw, 0) as lifetime_gmv_krw
    from sellers as s
    left join catalogue as c using (seller_id)
    left join sales as x using (seller_id)
)

select * from final
