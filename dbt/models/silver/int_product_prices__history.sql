{#
  Price periods of products (the optional product_prices table; empty when the export has
  none): each period's end (the product's next valid_from; null for the current price) and its
  change against the period before (drop_pct > 0 for a markdown). Read by the price_drop
  trigger of campaigns (lib/campaigns/triggers.py).
#}

with

prices as (
    select * from {{ ref('stg_raw__product_prices') }}
),

periods as (
    select
        product_id,
        valid_from,
        lead(valid_from) over (partition by product_id order by valid_from) as valid_to,
        price_krw,
        lag(price_krw) over (partition by product_id order by valid_from) as previous_price_krw
    from prices
),

final as (
    select
        *,
        1 - price_krw / nullif(previous_price_krw, 0) as drop_pct
    from periods
)

select * from final
