{#
  Randomized lift studies of paid channels (the optional lift_study_assignments table; empty
  when the export has none): one row per study and customer, test or holdout. Read by the
  exposure-level measurement of the paid channels (lib/attribution/exposure_lift.py).
#}

with

assignments as (
    select * from {{ ref('stg_raw__lift_study_assignments') }}
),

final as (
    select
        study_id,
        channel,
        customer_id,
        {{ adapter.quote('group') }} as study_group,
        start_date,
        end_date
    from assignments
)

select * from final
