{#
  Campaign audience assignments (treatment or holdout) with business dates and the campaign's
  channel. The holdout is assigned but never sent to.
#}

with

sends as (
    select * from {{ ref('stg_raw__campaign_sends') }}
),

campaigns as (
    select * from {{ ref('int_campaigns__named') }}
),

final as (
    select
        s.send_id,
        s.campaign_id,
        s.customer_id,
        c.channel,
        s.{{ adapter.quote('group') }} as assignment_group,
        s.{{ adapter.quote('group') }} = 'treatment' as is_treatment,
        s.assigned_at,
        {{ business_date('s.assigned_at') }} as assigned_date,
        s.sent_at,
        {{ business_date('s.sent_at') }} as sent_date,
        s.sent_at is not null as is_sent
    from sends as s
    left join campaigns as c using (campaign_id)
)

select * from final
