{#
  Every customer the data knows of, in their current state (the latest version in
  int_customers__history): the customers export, plus customers who appear only in
  orders, sessions, events, touches or campaign sends (an orders-only export has no customers
  table at all). Those get signed_up_at = their first order, session or event (first marketing
  contact if that is all there is), a null profile, no consent, and the channel of their first
  session as acquisition channel (organic without sessions).
#}

with

customers as (
    select * from {{ ref('int_customers__history') }}
    where is_current
),

orders as (
    select * from {{ ref('stg_raw__orders') }}
),

sessions as (
    select * from {{ ref('int_sessions__attributed') }}
),

events as (
    select * from {{ ref('stg_raw__events') }}
),

touches as (
    select * from {{ ref('stg_raw__marketing_touches') }}
),

sends as (
    select * from {{ ref('stg_raw__campaign_sends') }}
),

activity as (
    select customer_id, min(ordered_at) as first_at from orders group by customer_id
    union all
    select customer_id, min(started_at) as first_at from sessions group by customer_id
    union all
    select customer_id, min(occurred_at) as first_at from events group by customer_id
),

first_activity as (
    select
        customer_id,
        min(first_at) as first_active_at
    from activity
    group by customer_id
),

marketing_contact as (
    select customer_id, min(occurred_at) as first_at from touches group by customer_id
    union all
    select customer_id, min(assigned_at) as first_at from sends group by customer_id
),

first_contact as (
    select
        customer_id,
        min(first_at) as first_contacted_at
    from marketing_contact
    group by customer_id
),

first_sessions as (
    select
        customer_id,
        channel
    from sessions
    where customer_session_number = 1
),

customer_ids as (
    select customer_id from customers
    union
    select customer_id from first_activity
    union
    select customer_id from first_contact
),

conformed as (
    select
        ids.customer_id,
        c.customer_id is not null as has_profile,
        coalesce(c.signed_up_at, a.first_active_at, m.first_contacted_at) as signed_up_at,
        a.first_active_at,
        c.gender,
        c.birth_year,
        c.region,
        c.time_zone,
        c.valid_from as profile_valid_from,
        coalesce(c.has_marketing_consent, false) as has_marketing_consent,
        coalesce(c.has_night_consent, false) as has_night_consent,
        coalesce(
            c.acquisition_channel, case when c.customer_id is null then s.channel end, 'organic'
        ) as acquisition_channel
    from customer_ids as ids
    left join customers as c using (customer_id)
    left join first_activity as a using (customer_id)
    left join first_contact as m using (customer_id)
    left join first_sessions as s using (customer_id)
),

final as (
    select
        customer_id,
        has_profile,
        signed_up_at,
        {{ business_date('signed_up_at') }} as signed_up_date,
        first_active_at,
        {{ business_date('first_active_at') }} as first_active_date,
        gender,
        birth_year,
        region,
        time_zone,
        profile_valid_from,
        has_marketing_consent,
        has_night_consent,
        acquisition_channel
    from conformed
)

select * from final
