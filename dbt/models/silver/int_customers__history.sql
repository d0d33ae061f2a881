{#
  The customers export as a history: one row per version of a customer's attributes (consent,
  night consent, region, time zone, ...). A row's time is its updated_at, or, without one, the time
  its file was loaded; rows are ordered by that time (then load order). A row that repeats the
  version before it (a true duplicate, or an unchanged customer in a later full export) is not a
  new version. Each version is valid from its time until the next version's; the last one is the
  current state (int_customers__conformed).
#}

{%- set attributes = [
    'signed_up_at', 'gender', 'birth_year', 'region', 'time_zone', 'has_marketing_consent',
    'has_night_consent', 'acquisition_channel',
] -%}

with

customers as (
    select * from {{ ref('stg_raw__customers') }}
),

taxonomy as (
    select * from {{ ref('channel_taxonomy') }}
),

rows_in_order as (
    select
        customer_id,
        coalesce(updated_at, _loaded_at) as valid_from,
        updated_at is not null as has_updated_at,
        signed_up_at,
        gender,
        birth_year,
        region,
        time_zone,
        -- unknown consent is no consent: CRM must not message a customer on a guess
        coalesce(marketing_opt_in, false) as has_marketing_consent,
        coalesce(night_opt_in, false) as has_night_consent,
        case
            when nullif(trim(acquisition_channel), '') is null then 'organic'
            when lower(trim(acquisition_channel)) in (select channel from taxonomy)
                then lower(trim(acquisition_channel))
            else 'unmapped'
        end as acquisition_channel,
        _source_file as source_file,
        _row_number as source_row_number,
        _loaded_at
    from customers
),

compared as (
    select
        *,
        {{ struct_of(attributes) }} as attributes,
        lag({{ struct_of(attributes) }}) over in_order as previous_attributes
    from rows_in_order
    window in_order as (
        partition by customer_id order by valid_from, _loaded_at, source_file, source_row_number
    )
),

versions as (
    select {{ star_except(['attributes', 'previous_attributes']) }}
    from compared
    where previous_attributes is null or attributes is distinct from previous_attributes
),

final as (
    select
        customer_id,
        row_number() over in_order as version_number,
        valid_from,
        lead(valid_from) over in_order as valid_to,
        lead(valid_from) over in_order is null as is_current,
        has_updated_at,
        signed_up_at,
        gender,
        birth_year,
        region,
        time_zone,
        has_marketing_consent,
        has_night_consent,
        acquisition_channel,
        source_file,
        source_row_number
    from versions
    window in_order as (
        partition by customer_id order by valid_from, _loaded_at, source_file, source_row_number
    )
)

select * from final
