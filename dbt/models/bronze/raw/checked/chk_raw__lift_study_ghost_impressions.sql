-- Referential checks read these checked tables (declared so dbt orders them):
-- depends_on: {{ ref('chk_raw__customers') }}
{{ contract_checked('lift_study_ghost_impressions') }}
