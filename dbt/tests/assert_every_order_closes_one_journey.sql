-- Every order closes exactly one converted journey, as its last row. Returns the orders that do not.
-- Shown in Dagster as a check on fct_touchpoint_journeys (a singular test reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'fct_touchpoint_journeys'}}}) }}
with

-- an incremental run checks the window's orders (macros/date_window.sql: in_test_window)
orders as (
    select order_id from {{ ref('int_orders__enriched') }}
    where {{ in_test_window('order_date') }}
),

conversions as (
    select
        order_id,
        count(*) as conversion_rows,
        count(*) filter (where touch_number = journey_touches) as last_rows,
    from {{ ref('fct_touchpoint_journeys') }}
    where is_conversion and order_id in (select order_id from orders)
    group by order_id
)

select
    o.order_id,
    c.conversion_rows,
    c.last_rows,
from orders as o
left join conversions as c using (order_id)
where c.conversion_rows is distinct from 1 or c.last_rows is distinct from 1
