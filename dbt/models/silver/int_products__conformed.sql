{#
  Every product: the products export plus products that events or order lines reference but the
  export lacks (has_product_record = false). Those take their price from their order lines
  (median unit price) and their listing time from their first event or order.
#}

with

products as (
    select * from {{ ref('stg_raw__products') }}
),

events as (
    select * from {{ ref('stg_raw__events') }}
),

order_items as (
    select * from {{ ref('stg_raw__order_items') }}
),

orders as (
    select * from {{ ref('stg_raw__orders') }}
),

sightings as (
    select product_id, occurred_at as seen_at, null as unit_price
    from events
    where product_id is not null
    union all
    select i.product_id, o.ordered_at as seen_at, i.unit_price
    from order_items as i
    left join orders as o using (order_id)
),

unrecorded as (
    select
        product_id,
        min(seen_at) as created_at,
        median(unit_price) as price
    from sightings
    where product_id not in (select product_id from products)
    group by product_id
),

all_products as (
    select
        product_id,
        seller_id,
        category_l1,
        category_l2,
        price,
        style,
        created_at,
        true as has_product_record
    from products
    union all
    select
        product_id,
        null as seller_id,
        null as category_l1,
        null as category_l2,
        price,
        null as style,
        created_at,
        false as has_product_record
    from unrecorded
),

final as (
    select
        product_id,
        seller_id,
        category_l1,
        category_l2,
        price as price_krw,
        {{ price_band('price') }} as price_band,
        style,
        created_at,
        {{ business_date('created_at') }} as created_date,
        has_product_record
    from all_products
)

select * from final
