{#
  Campaigns with their parsed names, coupon and lifetime delivery and cost. Campaigns that other
  tables reference but the campaigns export lacks are here too (has_campaign_record = false).
#}

with

campaigns as (
    select * from {{ ref('int_campaigns__named') }}
),

coupons as (
    select * from {{ ref('stg_raw__coupons') }}
),

sends as (
    select * from {{ ref('int_campaign_sends__conformed') }}
),

touches as (
    select * from {{ ref('int_touches__conformed') }}
),

spend as (
    select * from {{ ref('stg_raw__marketing_spend') }}
),

campaign_coupons as (
    select
        campaign_id,
        min(coupon_id) as coupon_id,
        count(*) as coupons
    from coupons
    where campaign_id is not null
    group by campaign_id
),

audiences as (
    select
        campaign_id,
        count(*) as assigned_customers,
        count(*) filter (where is_treatment) as treatment_customers,
        count(*) filter (where not is_treatment) as holdout_customers,
        count(*) filter (where is_sent) as sent_customers
    from sends
    group by campaign_id
),

delivery as (
    select
        campaign_id,
        count(*) as touches,
        min(touched_at) as first_touched_at,
        max(touched_at) as last_touched_at
    from touches
    where campaign_id is not null
    group by campaign_id
),

costs as (
    select
        campaign_id,
        sum(spend) as spend_krw
    from spend
    group by campaign_id
),

final as (
    select
        c.*,
        cp.coupon_id,
        cp.coupon_id is not null as has_coupon,
        coalesce(a.assigned_customers, 0) as assigned_customers,
        coalesce(a.treatment_customers, 0) as treatment_customers,
        coalesce(a.holdout_customers, 0) as holdout_customers,
        coalesce(a.sent_customers, 0) as sent_customers,
        coalesce(d.touches, 0) as touches,
        d.first_touched_at,
        d.last_touched_at,
        coalesce(k.spend_krw, 0) as spend_krw
    from campaigns as c
    left join campaign_coupons as cp using (campaign_id)
    left join audiences as a using (campaign_id)
    left join delivery as d using (campaign_id)
    left join costs as k using (campaign_id)
)

select * from final
