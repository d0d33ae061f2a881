-- Referential checks read these checked tables (declared so dbt orders them):
-- depends_on: {{ ref('chk_raw__campaigns') }}
-- depends_on: {{ ref('chk_raw__customers') }}
-- Incremental by the business date of assigned_at (macros/contract.sql, macros/date_window.sql).
{{ config(
    unique_key='_business_date',
    partition_by=daily_partition_by('_business_date'),
) }}
{{ contract_checked('campaign_sends', window_timestamp='assigned_at') }}
