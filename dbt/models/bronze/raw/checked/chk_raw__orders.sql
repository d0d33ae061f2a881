-- Referential checks read these landing tables (declared so dbt orders them):
-- depends_on: {{ source('raw', 'coupons') }}
-- depends_on: {{ source('raw', 'customers') }}
-- depends_on: {{ source('raw', 'sessions') }}
{{ contract_checked('orders') }}
