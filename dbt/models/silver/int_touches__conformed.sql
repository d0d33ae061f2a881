{#
  Marketing touches (impressions, clicks, sends, opens) with their business date and the
  channel's group from the taxonomy. Incremental by touch_date (macros/date_window.sql).
#}

{{ config(
    unique_key='touch_date',
    partition_by=daily_partition_by('touch_date'),
) }}

with

touches as (
    select * from {{ ref('stg_raw__marketing_touches') }}
    where {{ in_date_window_utc('occurred_at') }}
),

taxonomy as (
    select * from {{ ref('channel_taxonomy') }}
),

final as (
    select
        m.touch_id,
        m.customer_id,
        m.occurred_at as touched_at,
        {{ business_date('m.occurred_at') }} as touch_date,
        m.channel,
        t.channel_group,
        t.is_paid as is_paid_channel,
        m.campaign_id,
        nullif(trim(m.creative_id), '') as creative_id,
        m.touch_type
    from touches as m
    left join taxonomy as t using (channel)
)

select * from final
