{#
  Each customer's product interactions per top-level category and business date (views,
  bookmarks and add-to-carts of the category's products, and purchased lines), with the count to
  date: feat_customer__daily's favourite category is the running maximum of (count to date,
  category). Incremental by activity_date (macros/date_window.sql): a window's counts continue
  from the customer's count before it, so a day's run reads the day's events, not every one.
#}

{{ config(
    unique_key='activity_date',
    partition_by=daily_partition_by('activity_date'),
) }}

with

events as (
    select * from {{ ref('int_events__cleaned') }}
    where {{ in_date_window('event_date') }}
),

order_lines as (
    select * from {{ ref('int_order_lines__joined') }}
    where {{ in_date_window('order_date') }}
),

products as (
    select * from {{ ref('int_products__conformed') }}
),

category_days as (
    select customer_id, activity_date, category_l1, cast(sum(n) as bigint) as interactions
    from (
        select e.customer_id, e.event_date as activity_date, p.category_l1, count(*) as n
        from events as e
        inner join products as p using (product_id)
        where e.event_type in ('view', 'bookmark', 'add_to_cart') and p.category_l1 is not null
        group by all
        union all
        select customer_id, order_date as activity_date, category_l1, count(*) as n
        from order_lines
        where category_l1 is not null
        group by all
    ) as parts
    group by all
),

-- the counts before the window (none when every date is built); counts only grow
earlier as (
    {%- if window_active() %}
    select customer_id, category_l1, max(interactions_to_date) as interactions_before
    from {{ this }}
    where activity_date < {{ window_start_literal() }}
    group by all
    {%- else %}
    select customer_id, category_l1, interactions as interactions_before
    from category_days
    where false
    {%- endif %}
),

final as (
    select
        d.customer_id,
        d.category_l1,
        d.activity_date,
        d.interactions,
        cast(coalesce(e.interactions_before, 0) + sum(d.interactions) over (
            partition by d.customer_id, d.category_l1 order by d.activity_date
            rows between unbounded preceding and current row
        ) as bigint) as interactions_to_date
    from category_days as d
    left join earlier as e
        on e.customer_id = d.customer_id and e.category_l1 = d.category_l1
)

select * from final
