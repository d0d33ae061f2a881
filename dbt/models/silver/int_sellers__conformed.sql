{#
  Every seller: the sellers export plus sellers that products reference but the export lacks
  (has_seller_record = false, joined_at = their first product's listing time).
#}

with

sellers as (
    select * from {{ ref('stg_raw__sellers') }}
),

products as (
    select * from {{ ref('stg_raw__products') }}
),

unrecorded as (
    select
        seller_id,
        min(created_at) as joined_at
    from products
    where seller_id is not null
        and seller_id not in (select seller_id from sellers)
    group by seller_id
),

all_sellers as (
    select
        seller_id,
        seller_name,
        style,
        joined_at,
        true as has_seller_record
    from sellers
    union all
    select
        seller_id,
        null as seller_name,
        null as style,
        joined_at,
        false as has_seller_record
    from unrecorded
),

final as (
    select
        *,
        {{ business_date('joined_at') }} as joined_date
    from all_sellers
)

select * from final
