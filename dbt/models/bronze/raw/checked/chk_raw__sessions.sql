-- Referential checks read these landing tables (declared so dbt orders them):
-- depends_on: {{ source('raw', 'customers') }}
{{ contract_checked('sessions') }}
