{#
  Ghost impressions of the lift studies' holdouts (the optional lift_study_ghost_impressions
  table) by study, customer and business date, with the study's channel: the days a held-out
  customer would have been served the channel. A ghost of a study without assignments keeps a
  null channel (it is not dropped).
#}

with

ghosts as (
    select * from {{ ref('stg_raw__lift_study_ghost_impressions') }}
),

studies as (
    select distinct study_id, channel from {{ ref('stg_raw__lift_study_assignments') }}
),

daily as (
    select
        study_id,
        customer_id,
        {{ business_date('occurred_at') }} as ghost_date,
        count(*) as ghost_impressions
    from ghosts
    group by 1, 2, 3
),

final as (
    select
        d.study_id,
        s.channel,
        d.customer_id,
        d.ghost_date,
        d.ghost_impressions
    from daily as d
    left join studies as s on d.study_id = s.study_id
)

select * from final
