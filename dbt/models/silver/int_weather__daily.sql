{#
  Daily weather per region (the optional weather table; empty when the export has none), the
  region spelled as customers.region. Read by the demand forecast and the weather trigger.
#}

with

weather as (
    select * from {{ ref('stg_raw__weather') }}
),

final as (
    select
        date,
        region,
        precipitation_mm,
        mean_temp_c
    from weather
)

select * from final
