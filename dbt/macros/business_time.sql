{#
  Timestamps are stored as naive UTC; business dates (daily snapshots, day of week, holidays) are
  taken in var('business_timezone'). Asia/Seoul has no DST, but the macros make no such assumption.
#}

{# The business date of a naive UTC timestamp. #}
{% macro business_date(ts) -%}
    cast(timezone('{{ var("business_timezone") }}', timezone('UTC', {{ ts }})) as date)
{%- endmacro %}


{# The moment a business date starts, as a naive UTC timestamp. #}
{% macro business_day_start_utc(business_date) -%}
    timezone('UTC', timezone('{{ var("business_timezone") }}', cast({{ business_date }} as timestamp)))
{%- endmacro %}
