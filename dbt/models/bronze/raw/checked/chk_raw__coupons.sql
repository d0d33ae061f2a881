-- Referential checks read these landing tables (declared so dbt orders them):
-- depends_on: {{ source('raw', 'campaigns') }}
{{ contract_checked('coupons') }}
