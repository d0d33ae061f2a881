{#
  In-session events with their business date. Cleaning: exact repeats (same customer, session,
  type, product, query and time under another event_id, as double logging produces) are kept once,
  with the smallest event_id; search queries are trimmed and lowercased; a session_id whose session
  is not in silver (quarantined) is set to null. Incremental by event_date
  (macros/date_window.sql): repeats share their time, so they fall in the same window.
#}

{{ config(
    unique_key='event_date',
    partition_by=daily_partition_by('event_date'),
) }}

with

events as (
    select * from {{ ref('stg_raw__events') }}
    where {{ in_date_window_utc('occurred_at') }}
),

sessions as (
    select * from {{ ref('int_sessions__attributed') }}
),

normalized as (
    select
        event_id,
        session_id,
        customer_id,
        occurred_at,
        event_type,
        product_id,
        lower(nullif(trim(search_query), '')) as search_query
    from events
),

deduplicated as (
    select
        min(event_id) as event_id,
        session_id,
        customer_id,
        occurred_at,
        event_type,
        product_id,
        search_query
    from normalized
    group by all
),

final as (
    select
        e.event_id,
        s.session_id,
        e.customer_id,
        e.occurred_at,
        {{ business_date('e.occurred_at') }} as event_date,
        e.event_type,
        e.product_id,
        e.search_query
    from deduplicated as e
    left join sessions as s on s.session_id = e.session_id
)

select * from final
