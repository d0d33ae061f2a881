{#
  Campaigns with their names parsed against the naming convention
  {channel}_{objective}_{yyyymmdd}_{audience}_{label}. Channels may contain underscores
  (search_ads, app_push), so a name that starts with a known channel is split after it; any other
  name is read from the right, leaving the leading parts as its (unknown) channel.
  No campaign is dropped: ids that other tables reference but the campaigns export lacks are added
  with has_campaign_record = false.
#}

{#- the contract's accepted campaigns.objective values (graph lookups are unavailable in unit tests) -#}
{%- set objectives = "'acquisition', 'conversion', 'retention', 'reactivation', 'awareness'" -%}

with

campaigns as (
    select * from {{ ref('stg_raw__campaigns') }}
),

touches as (
    select * from {{ ref('stg_raw__marketing_touches') }}
),

spend as (
    select * from {{ ref('stg_raw__marketing_spend') }}
),

sends as (
    select * from {{ ref('stg_raw__campaign_sends') }}
),

coupons as (
    select * from {{ ref('stg_raw__coupons') }}
),

sessions as (
    select * from {{ ref('stg_raw__sessions') }}
),

taxonomy as (
    select * from {{ ref('channel_taxonomy') }}
),

marketing_channels as (
    select channel from taxonomy where channel_group in ('paid', 'crm')
),

referenced as (
    select campaign_id, channel from touches
    union all
    select campaign_id, channel from spend
    union all
    select campaign_id, null as channel from sends
    union all
    select campaign_id, null as channel from coupons
    union all
    -- utm_campaign carries a campaign id, or sometimes its name (matched in int_sessions__attributed)
    select trim(utm_campaign) as campaign_id, null as channel
    from sessions
    where nullif(trim(utm_campaign), '') is not null
        and lower(trim(utm_campaign)) not in (
            select lower(campaign_name) from campaigns where campaign_name is not null
        )
),

unrecorded as (
    select
        campaign_id,
        min(channel) as channel
    from referenced
    where campaign_id is not null
        and campaign_id not in (select campaign_id from campaigns)
    group by campaign_id
),

all_campaigns as (
    select
        campaign_id,
        campaign_name,
        channel,
        objective,
        started_at,
        ended_at,
        cost_model,
        true as has_campaign_record
    from campaigns
    union all
    select
        campaign_id,
        null as campaign_name,
        channel,
        null as objective,
        null as started_at,
        null as ended_at,
        null as cost_model,
        false as has_campaign_record
    from unrecorded
),

known_prefix as (
    select
        c.campaign_id,
        max_by(m.channel, length(m.channel)) as prefix_channel
    from all_campaigns as c
    inner join marketing_channels as m
        on substr(c.campaign_name, 1, length(m.channel) + 1) = m.channel || '_'
    group by c.campaign_id
),

split as (
    select
        c.*,
        p.prefix_channel,
        case
            when p.prefix_channel is not null
                then {{ split_text('substr(c.campaign_name, length(p.prefix_channel) + 2)', '_') }}
            else {{ split_text('c.campaign_name', '_') }}
        end as tail_parts
    from all_campaigns as c
    left join known_prefix as p using (campaign_id)
),

counted as (
    select
        *,
        case
            when campaign_name is null then null
            when prefix_channel is not null then {{ list_length('tail_parts') }} = 4
            else {{ list_length('tail_parts') }} >= 5
        end as has_right_part_count
    from split
),

parsed as (
    -- the last four parts are objective, date, audience and label; parts are read only from a
    -- name with the right number of them (the channel also from a name that starts with one)
    select
        *,
        coalesce(
            prefix_channel,
            case
                when has_right_part_count
                    then {{ list_join(list_slice('tail_parts', 1, list_length('tail_parts') ~ ' - 4'), '_') }}
            end
        ) as name_channel,
        case when has_right_part_count then {{ list_element('tail_parts', list_length('tail_parts') ~ ' - 3') }} end as name_objective,
        case when has_right_part_count then {{ list_element('tail_parts', list_length('tail_parts') ~ ' - 2') }} end as name_date_text,
        case when has_right_part_count then {{ list_element('tail_parts', list_length('tail_parts') ~ ' - 1') }} end as name_audience,
        case when has_right_part_count then {{ list_element('tail_parts', list_length('tail_parts') ~ '') }} end as name_label
    from counted
),

flagged as (
    -- (outside the list below: Spark allows no subquery inside a list function)
    select
        *,
        name_channel in (select channel from marketing_channels) as is_marketing_name_channel
    from parsed
),

checked as (
    select
        *,
        case
            when {{ regexp_full_match('name_date_text', '[0-9]{8}') }}
                then {{ try_parse_yyyymmdd('name_date_text') }}
        end as name_date,
        {% call non_null_list() -%}
            case when campaign_name is null then 'missing name' end,
            case
                when not has_right_part_count and (prefix_channel is null or {{ list_length('tail_parts') }} < 4)
                    then 'too few parts'
                when not has_right_part_count then 'too many parts'
            end,
            case
                when has_right_part_count
                    and not is_marketing_name_channel
                    then 'unknown channel'
            end,
            case
                when has_right_part_count and (
                    not {{ regexp_full_match('name_date_text', '[0-9]{8}') }}
                    or {{ try_parse_yyyymmdd('name_date_text') }} is null
                ) then 'bad date'
            end,
            case
                when has_right_part_count
                    and name_objective not in ({{ objectives }})
                    then 'unknown objective'
            end,
            case
                when has_right_part_count and is_marketing_name_channel
                    and name_channel is distinct from channel
                    then 'channel does not match'
            end,
            case
                when has_right_part_count and objective is not null
                    and name_objective in ({{ objectives }})
                    and name_objective != objective
                    then 'objective does not match'
            end
        {%- endcall %} as name_error_list
    from flagged
),

final as (
    select
        c.campaign_id,
        c.campaign_name,
        c.channel,
        t.channel_group,
        t.is_paid as is_paid_channel,
        c.objective,
        c.cost_model,
        c.started_at,
        c.ended_at,
        {{ business_date('c.started_at') }} as start_date,
        {{ business_date('c.ended_at') }} as end_date,
        c.has_campaign_record,
        c.name_channel,
        c.name_objective,
        c.name_date,
        c.name_audience,
        c.name_label,
        {{ list_length('c.name_error_list') }} = 0 as is_name_valid,
        {{ list_first('c.name_error_list') }} as name_error,
        nullif({{ list_join('c.name_error_list', '; ') }}, '') as name_errors
    from checked as c
    left join taxonomy as t on t.channel = c.channel
)

select * from final
