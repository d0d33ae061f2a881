-- Referential checks read these checked tables (declared so dbt orders them):
-- depends_on: {{ ref('chk_raw__products') }}
{{ contract_checked('product_prices') }}
