{#
  fct_conversion_tracking's sign-ups, and the dates an incremental run of it rebuilds
  (docs/scale-out.md#daily-partitions-and-incremental-models).
#}

{#- Sign-ups by date, acquisition channel and the first session's campaign and creative (when
    that session came through the acquisition channel): a select without its `group by`. -#}
{% macro conversion_sign_up_metrics() %}
    select
        c.signed_up_date as activity_date,
        c.acquisition_channel as channel,
        case when s.channel = c.acquisition_channel then s.campaign_id end as campaign_id,
        case when s.channel = c.acquisition_channel then s.creative_id end as creative_id,
        count(*) as sign_ups
    from {{ ref('int_customers__conformed') }} as c
    left join (
        select * from {{ ref('int_sessions__attributed') }} where customer_session_number = 1
    ) as s using (customer_id)
{%- endmacro %}


{#-
  The business dates a window run of fct_conversion_tracking rebuilds, as a list of dates (none:
  every date). The window's dates, and every date whose sign-ups differ from the table's: a
  sign-up's campaign comes from the customer's first session, which may arrive days after the
  sign-up, and the customer export is replaced whole (a changed acquisition channel). Computed
  with one query before the model runs, so the model's filters are date literals.
-#}
{% macro conversion_rebuilt_dates() %}
    {%- if not window_active() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set w = date_window() -%}
    {%- set keys = ['activity_date', 'channel', 'campaign_id', 'creative_id'] -%}
    {%- set query -%}
        with
        computed as (
            {{ conversion_sign_up_metrics() }}
            group by all
        ),
        stored as (
            select {{ keys | join(', ') }}, sign_ups from {{ this }} where sign_ups > 0
        )
        select distinct coalesce(n.activity_date, o.activity_date) as activity_date
        from computed as n
        full outer join stored as o
            on {% for k in keys %}n.{{ k }} is not distinct from o.{{ k }}{{ ' and ' if not loop.last }}{% endfor %}
        where n.sign_ups is distinct from o.sign_ups
            and coalesce(n.activity_date, o.activity_date) is not null
            and coalesce(n.activity_date, o.activity_date) < {{ date_literal(w['start']) }}
        order by 1
    {%- endset -%}
    {%- set dates = [] -%}
    {%- set day = namespace(value=w['start']) -%}
    {%- for _ in range((w['end'] - w['start']).days + 1) -%}
        {%- do dates.append(day.value) -%}
        {%- set day.value = day.value + modules.datetime.timedelta(days=1) -%}
    {%- endfor -%}
    {%- for row in run_query(query).rows -%}
        {%- set value = row[0] -%}
        {%- do dates.append(value if value is not string else modules.datetime.date.fromisoformat(value)) -%}
    {%- endfor -%}
    {{ return(dates) }}
{% endmacro %}


{#- A filter on a date column: one of `dates` (a list of dates), or true when `dates` is none. -#}
{% macro in_dates(column, dates) -%}
    {%- if dates is none -%}
        true
    {%- else -%}
        {{ column }} in ({% for d in dates %}{{ date_literal(d) }}{{ ', ' if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}
