{#
  Order lines with the order's customer and date and the product's category, seller and price
  band. Lines of an order that is in quarantine (so not in silver) are left out with their order.
  Incremental by order_date (macros/date_window.sql), the date of the line's order.
#}

{{ config(
    unique_key='order_date',
    partition_by=daily_partition_by('order_date'),
) }}

with

order_items as (
    select * from {{ ref('stg_raw__order_items') }}
),

orders as (
    select * from {{ ref('int_orders__enriched') }}
    where {{ in_date_window('order_date') }}
),

products as (
    select * from {{ ref('int_products__conformed') }}
),

final as (
    select
        i.order_id,
        i.product_id,
        o.customer_id,
        o.ordered_at,
        o.order_date,
        i.quantity,
        i.unit_price as unit_price_krw,
        i.quantity * i.unit_price as line_amount_krw,
        {{ price_band('i.unit_price') }} as price_band,
        p.seller_id,
        p.category_l1,
        p.category_l2,
        p.style as product_style,
        o.has_coupon,
        o.is_first_order
    from order_items as i
    inner join orders as o using (order_id)
    left join products as p using (product_id)
)

select * from final
