-- Nothing is lost: for every contract table, landed rows = bronze rows + quarantined rows.
-- Shown in Dagster as a check on quarantine (a singular test reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'quarantine'}}}) }}
with counts as (
{%- for table_name in var('contract_tables') %}
    select
        '{{ table_name }}' as table_name,
        (select count(*) from {{ source('raw', table_name) }}) as landed,
        (select count(*) from {{ ref('stg_raw__' ~ table_name) }}) as bronze,
        (select count(*) from {{ ref('quarantine') }} where table_name = '{{ table_name }}')
            as quarantined
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
)

select * from counts where landed != bronze + quarantined
