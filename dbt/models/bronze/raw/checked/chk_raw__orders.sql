-- Referential checks read these checked tables (declared so dbt orders them):
-- depends_on: {{ ref('chk_raw__coupons') }}
-- depends_on: {{ ref('chk_raw__customers') }}
-- depends_on: {{ ref('chk_raw__sessions') }}
{{ contract_checked('orders') }}
