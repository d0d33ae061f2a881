-- Referential checks read these landing tables (declared so dbt orders them):
-- depends_on: {{ source('raw', 'orders') }}
-- depends_on: {{ source('raw', 'products') }}
{{ contract_checked('order_items') }}
