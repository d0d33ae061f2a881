{#
  Sessions with their business date, duration and the channel, campaign and creative their UTM
  tags point to. Channel: the channel_taxonomy row whose utm_sources and utm_mediums match best
  (both > source only > medium only); failing that, the channel of the campaign in utm_campaign;
  failing that, 'unmapped' for tagged sessions and 'organic' for untagged ones.

  Incremental by session_date (macros/date_window.sql): a window's sessions are numbered on from
  the customer's sessions before it.
#}

{{ config(
    unique_key='session_date',
    partition_by=daily_partition_by('session_date'),
) }}

with

sessions as (
    select * from {{ ref('stg_raw__sessions') }}
    where {{ in_date_window_utc('started_at') }}
),

-- the customer's sessions before the window (none when every date is built)
earlier_sessions as (
    {%- if window_active() %}
    select customer_id, count(*) as sessions_before
    from {{ this }}
    where session_date < {{ window_start_literal() }}
    group by customer_id
    {%- else %}
    select customer_id, 0 as sessions_before
    from sessions
    where false
    {%- endif %}
),

campaigns as (
    select * from {{ ref('int_campaigns__named') }}
),

taxonomy as (
    select * from {{ ref('channel_taxonomy') }}
),

tagged as (
    select
        *,
        lower(nullif(trim(utm_source), '')) as source_tag,
        lower(nullif(trim(utm_medium), '')) as medium_tag,
        nullif(trim(utm_campaign), '') as campaign_tag,
        nullif(trim(utm_content), '') as content_tag
    from sessions
),

taxonomy_tags as (
    select
        channel,
        {{ split_text("coalesce(utm_sources, '')", '|') }} as sources,
        {{ split_text("coalesce(utm_mediums, '')", '|') }} as mediums
    from taxonomy
    where channel_group in ('paid', 'crm')
),

tag_pairs as (
    select distinct source_tag, medium_tag
    from tagged
    where source_tag is not null or medium_tag is not null
),

tag_scores as (
    select
        p.source_tag,
        p.medium_tag,
        t.channel,
        (case when {{ list_has('t.sources', 'p.source_tag') }} then 2 else 0 end)
        + (case when {{ list_has('t.mediums', 'p.medium_tag') }} then 1 else 0 end) as match_score
    from tag_pairs as p
    cross join taxonomy_tags as t
),

-- the best match per tag pair (a ranked subquery, not `qualify`, which Spark lacks)
tag_channels as (
    select source_tag, medium_tag, channel, match_score
    from (
        select
            *,
            row_number() over (
                partition by source_tag, medium_tag order by match_score desc, channel
            ) as match_rank
        from tag_scores
    ) as ranked
    where match_rank = 1 and match_score > 0
),

campaign_names as (
    select
        lower(campaign_name) as name_key,
        min(campaign_id) as campaign_id
    from campaigns
    where campaign_name is not null
    group by lower(campaign_name)
),

resolved as (
    select
        s.*,
        coalesce(by_id.campaign_id, by_name.campaign_id) as known_campaign_id,
        coalesce(by_id.channel, by_name_campaign.channel) as campaign_channel,
        tc.channel as tag_channel
    from tagged as s
    left join tag_channels as tc
        on coalesce(tc.source_tag, '') = coalesce(s.source_tag, '')
        and coalesce(tc.medium_tag, '') = coalesce(s.medium_tag, '')
    left join campaigns as by_id
        on by_id.campaign_id = s.campaign_tag
    left join campaign_names as by_name
        on by_name.name_key = lower(s.campaign_tag)
    left join campaigns as by_name_campaign
        on by_name_campaign.campaign_id = by_name.campaign_id
),

attributed as (
    select
        session_id,
        customer_id,
        started_at,
        ended_at,
        {{ business_date('started_at') }} as session_date,
        {{ seconds_between('started_at', 'ended_at') }} as duration_seconds,
        device,
        device in ('ios', 'android') as is_app_session,
        region,
        page_views,
        search_count,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_content,
        coalesce(source_tag, medium_tag, campaign_tag, content_tag) is not null as has_utm,
        coalesce(
            tag_channel,
            campaign_channel,
            case
                when coalesce(source_tag, medium_tag, campaign_tag, content_tag) is not null
                    then 'unmapped'
                else 'organic'
            end
        ) as channel,
        -- an unknown utm_campaign is still a campaign (int_campaigns__named adds it)
        coalesce(known_campaign_id, campaign_tag) as campaign_id,
        content_tag as creative_id
    from resolved
),

final as (
    select
        a.*,
        t.channel_group,
        t.is_paid as is_paid_channel,
        coalesce(e.sessions_before, 0) + row_number() over (
            partition by a.customer_id order by a.started_at, a.session_id
        ) as customer_session_number
    from attributed as a
    left join taxonomy as t on t.channel = a.channel
    left join earlier_sessions as e on e.customer_id = a.customer_id
)

select * from final
