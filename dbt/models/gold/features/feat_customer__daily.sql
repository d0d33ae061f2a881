{#
  Daily customer feature snapshots for Feast: one row per customer per business date, computed
  from data up to the end of that date only.

  Running totals over active customer-days (silver.int_customer_days__running, incremental: a
  day's run adds the day to the states before it), a dense grid carrying an integer key of the
  running state, windows as differences of running totals: macros/snapshot_grid.sql explains the
  technique. An incremental run's grid covers its window and the 90 days before it, so it reads
  only those days' states and touches and each customer's last ones before them.
  Marketing touches are 4x more frequent than visits but feed only days_since_last_touch, so
  touch-only days split the grid without a running state of their own. Profile columns (consent,
  region, ...) are the version in force at the end of D (int_customers__history), joined on a
  date range per customer: most customers have one version, so the join stays one-to-one.
#}

{%- set windows = [7, 30, 90] -%}
{#- features over each window: `<name>_<N>d` (money: `<name>_<N>d_krw`) -#}
{%- set windowed = [
    'sessions', 'page_views', 'searches', 'session_minutes', 'product_views', 'bookmarks',
    'add_to_carts', 'orders', 'revenue',
] -%}
{#- over 90 days only, for the 90-day ratios (app session share, preferred price band) -#}
{%- set windowed_90d = [
    'app_sessions', 'purchased_units', 'purchased_amount', 'priced_views', 'viewed_price_sum',
] -%}
{%- set summed = customer_summed_measures() -%}

with

customers as (
    select * from {{ ref('int_customers__conformed') }}
),

profile_history as (
    select * from {{ ref('int_customers__history') }}
),

touches as (
    select * from {{ ref('int_touches__conformed') }}
),

dates as (
    select * from {{ ref('dim_dates') }}
    where is_observed
),

bounds as (
    -- an incremental run's grid: its window and the longest feature window (90 days) before it
    select
        {{ window_grid_first_date('min(calendar_date)', 90) }} as first_date,
        {{ window_grid_last_date('max(calendar_date)') }} as last_date
    from dates
),

customer_keys as (
    select
        customer_id,
        row_number() over (order by customer_id) as customer_key
    from customers
),

-- running state at each active day (state_key = customer_key * 1e6 + n-th active day) ----------

customer_days as (
    {%- set running = ref('int_customer_days__running') %}
    {%- if window_active() %}
    -- the grid's days, and each customer's last state before them
    select * from {{ running }}
    where {{ in_window_grid('activity_date', 90) }}
    union all
    {{ last_rows_before(running, 'customer_id', 'activity_date', window_start_literal(90)) }}
    {%- else %}
    select * from {{ running }}
    {%- endif %}
),

active_day_state as (
    select
        k.customer_key * 1000000 + d.active_days as state_key,
        {{ star_except(['customer_id', 'active_days'], 'd') }}
    from customer_days as d
    inner join customer_keys as k using (customer_id)
),

-- every day something happened (activity or a touch): the latest state and touch so far --------

touch_days as (
    select distinct
        k.customer_key,
        t.touch_date as activity_date
    from touches as t
    inner join customer_keys as k using (customer_id)
    {%- if window_active() %}
    where {{ in_window_grid('t.touch_date', 90) }}
    union all
    -- each customer's last touch before the grid's days
    select
        k.customer_key,
        max(t.touch_date) as activity_date
    from touches as t
    inner join customer_keys as k using (customer_id)
    where t.touch_date < {{ window_start_literal(90) }}
    group by k.customer_key
    {%- endif %}
),

marked_days as (
    select
        coalesce(a.customer_key, t.customer_key) as customer_key,
        coalesce(a.activity_date, t.activity_date) as activity_date,
        a.state_key,
        t.customer_key is not null as has_touch
    from (
        select {{ int_div('state_key', 1000000) }} as customer_key, activity_date, state_key
        from active_day_state
    ) as a
    full outer join touch_days as t
        on t.customer_key = a.customer_key and t.activity_date = a.activity_date
),

day_state as (
    select
        customer_key,
        activity_date,
        lead(activity_date) over in_order as next_activity_date,
        max(state_key) over running as state_key,
        max(case when has_touch then activity_date end) over running as last_touch_date
    from marked_days
    window
        running as (
            partition by customer_key order by activity_date
            rows between unbounded preceding and current row
        ),
        -- for lead, which takes no frame on Spark
        in_order as (partition by customer_key order by activity_date)
),

-- the profile in force at the end of each date: the last version that took effect by then. The
-- first version also covers the dates before it (nothing earlier is known) -------------------

profile_versions as (
    select
        k.customer_key,
        {{ business_date('h.valid_from') }} as from_date,
        h.version_number,
        h.gender,
        h.birth_year,
        h.region,
        h.has_marketing_consent,
        h.has_night_consent,
        h.acquisition_channel
    from profile_history as h
    inner join customer_keys as k using (customer_id)
),

profile_days as (
    -- the date's last version (a ranked subquery, not `qualify`, which Spark lacks)
    select {{ star_except(['version_rank']) }}
    from (
        select
            *,
            row_number() over (
                partition by customer_key, from_date order by version_number desc
            ) as version_rank
        from profile_versions
    ) as ranked
    where version_rank = 1
),

profile_spans as (
    select
        {{ star_except(['from_date', 'version_number']) }},
        case when lag(from_date) over by_date is null then date '0001-01-01' else from_date end
            as from_date,
        coalesce(lead(from_date) over by_date, date '9999-12-31') as to_date
    from profile_days
    window by_date as (partition by customer_key order by from_date)
),

-- the dense grid ---------------------------------------------------------------------------

first_days as (
    select
        customer_key,
        min(activity_date) as first_activity_date
    from marked_days
    group by customer_key
),

customer_spans as (
    -- from sign-up (or first activity, if earlier), but not before the data's first date
    select
        k.customer_key,
        greatest(b.first_date, least(c.signed_up_date, c.first_active_date)) as grid_start_date,
        f.first_activity_date,
        b.last_date
    from customers as c
    inner join customer_keys as k using (customer_id)
    left join first_days as f using (customer_key)
    cross join bounds as b
),

grid as (
    {{ snapshot_grid(
        'customer_key', days='day_state', spans='customer_spans',
        carry={'last_touch_date': 'last_touch_date'}
    ) }}
),

grid_lagged as (
    {{ snapshot_grid_lags('grid', 'customer_key', windows) }}
),

windowed as (
    select
        g.customer_key,
        g.snapshot_date,
        g.last_touch_date,
        {{ star_except(['state_key', 'activity_date'], 's') }},
        {{- snapshot_window_totals(windowed, windows) }},
        {{- snapshot_window_totals(windowed_90d, [90]) }}
    from grid_lagged as g
    {{ snapshot_window_joins('active_day_state', windows) }}
),

final as (
    select
        k.customer_id,
        w.snapshot_date,
        d.day_end_at as event_timestamp,
        cast('{{ run_started_at.strftime('%Y-%m-%d %H:%M:%S') }}' as timestamp) as created_timestamp,
        p.gender,
        {{ age_band('p.birth_year', 'w.snapshot_date') }} as age_band,
        p.region,
        cast({{ days_between('c.signed_up_date', 'w.snapshot_date') }} as integer) as tenure_days,
        -- unknown consent (no profile) is no consent
        coalesce(p.has_marketing_consent, false) as has_marketing_consent,
        coalesce(p.has_night_consent, false) as has_night_consent,
        coalesce(p.acquisition_channel, c.acquisition_channel) as acquisition_channel,
        {%- for n in windows %}
        {%- for m in windowed %}
        {%- if m == 'revenue' %}
        cast(w.revenue_{{ n }}d as double) as revenue_{{ n }}d_krw,
        {%- elif summed[m] == 'double' %}
        cast(round(w.{{ m }}_{{ n }}d, 2) as double) as {{ m }}_{{ n }}d,
        {%- else %}
        cast(w.{{ m }}_{{ n }}d as integer) as {{ m }}_{{ n }}d,
        {%- endif %}
        {%- endfor %}
        {%- endfor %}
        cast({{ days_between('w.last_visit_date', 'w.snapshot_date') }} as integer) as days_since_last_visit,
        cast({{ days_between('w.last_order_date', 'w.snapshot_date') }} as integer) as days_since_last_order,
        cast({{ days_between('w.last_touch_date', 'w.snapshot_date') }} as integer) as days_since_last_touch,
        cast(coalesce(w.total_orders, 0) as integer) as orders_to_date,
        cast(coalesce(w.total_revenue, 0) as double) as revenue_to_date_krw,
        cast(w.total_revenue / nullif(w.total_orders, 0) as double) as avg_order_value_krw,
        cast(w.total_coupon_orders / nullif(w.total_orders, 0) as double) as coupon_order_share,
        cast(w.app_sessions_90d / nullif(w.sessions_90d, 0) as double) as app_session_share_90d,
        w.favourite_category_l1,
        cast(
            w.favourite_category_interactions / nullif(w.total_category_interactions, 0) as double
        ) as favourite_category_share,
        {{ price_band(
            'coalesce(w.purchased_amount_90d / nullif(w.purchased_units_90d, 0),'
            ~ ' w.viewed_price_sum_90d / nullif(w.priced_views_90d, 0))'
        ) }} as preferred_price_band
    from windowed as w
    inner join customer_keys as k using (customer_key)
    inner join customers as c using (customer_id)
    inner join dates as d on d.calendar_date = w.snapshot_date
    left join profile_spans as p
        on p.customer_key = w.customer_key
        and w.snapshot_date >= p.from_date
        and w.snapshot_date < p.to_date
    where {{ in_date_window('w.snapshot_date') }}
)

select * from final
