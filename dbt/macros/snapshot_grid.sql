{#
  Point-in-time daily snapshots (feat_customer__daily, feat_product__daily): one row per entity per
  business date, computed from data up to the end of that date only.

  How it stays fast (100k customers x 365 days is ~25-30M rows): activity is aggregated per
  entity-day first (sparse: ~5% of the grid), and running totals are taken over those active days
  only; each active day's running state is identified by an integer
  state_key = entity_key * 1000000 + n-th active day. The dense grid is generated from the active
  days themselves (each covers the dates up to the entity's next active day; the dates before the
  first one carry no state), carrying just that key. A window total over N days is the running
  total now minus the running total N days ago: the key N rows back (the grid is dense, so N rows =
  N days), joined back to the state. The only window over the dense grid is that lag of one integer.

  A model states its activity and measures, its spans and its final columns; in between:
    activity_days     (<key>, activity_date) -> the summed measures     snapshot_daily_sums
    active_day_state  state_key -> running totals total_<measure>       snapshot_running_state
    grid              (<key>, snapshot_date) -> state_key               snapshot_grid
    grid_lagged       + state_key_<N>d_ago                              snapshot_grid_lags
    windowed          <measure>_<N>d                                    snapshot_window_totals,
                                                                        snapshot_window_joins
  `summed` maps each measure to its SQL type (the running totals keep it).
  The customer snapshots keep their running states in a model of their own
  (silver.int_customer_days__running, incremental: a day's run continues each customer's state),
  so an incremental run reads only its grid's states; the products' windowed totals need no
  state from before the grid, and an incremental run reads only its grid's activity.
#}


{# Measures summed per entity-day over the activity parts `a` (0 on days without that activity);
   comma-separated, no trailing comma (Spark allows none). #}
{% macro snapshot_daily_sums(summed) -%}
    {%- for m, data_type in summed.items() %}
        cast(coalesce(sum(a.{{ m }}), 0) as {{ data_type }}) as {{ m }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}


{#
  The running state at each active day of `days` (<key>, activity_date, the summed measures):
  state_key, activity_date, total_<measure>, then the caller's columns, which may use the window
  `running` (the entity's active days up to this one) or, for lead and lag, `in_order`.
#}
{% macro snapshot_running_state(days, key, summed) -%}
    select
        {{ key }} * 1000000 + row_number() over running as state_key,
        activity_date,
        {%- for m, data_type in summed.items() %}
        cast(sum({{ m }}) over running as {{ data_type }}) as total_{{ m }},
        {%- endfor %}
        {{ caller() | trim }}
    from {{ days }}
    window
        running as (
            partition by {{ key }} order by activity_date
            rows between unbounded preceding and current row
        ),
        -- for lead and lag, which take no frame on Spark
        in_order as (partition by {{ key }} order by activity_date)
{%- endmacro %}


{#
  The dense grid: (<key>, snapshot_date, state_key, the `carry` columns) for every date of each
  entity's span. Each of `days` (<key>, activity_date, next_activity_date, state_key) covers the
  dates up to the entity's next day; the dates before the first day carry nothing. `spans` has one
  row per entity: <key>, grid_start_date, first_activity_date (null: none), last_date. `carry` maps
  each carried column's name to its column in `days`.
#}
{% macro snapshot_grid(key, days, spans, carry) -%}
    -- each day covers the dates up to the entity's next day
    select
        s.{{ key }},
        s.state_key,
        {%- for name, column in carry.items() %}
        s.{{ column }} as {{ name }},
        {%- endfor %}
        {{ date_series(
            'greatest(s.activity_date, c.grid_start_date)',
            'coalesce(s.next_activity_date - 1, c.last_date)',
        ) }} as snapshot_date
    from {{ days }} as s
    inner join {{ spans }} as c using ({{ key }})
    where coalesce(s.next_activity_date - 1, c.last_date) >= c.grid_start_date
        and s.activity_date <= c.last_date
    union all
    -- dates before the first day carry nothing yet
    select
        c.{{ key }},
        null as state_key,
        {%- for name in carry %}
        null as {{ name }},
        {%- endfor %}
        {{ date_series(
            'c.grid_start_date',
            'least(coalesce(c.first_activity_date, c.last_date + 1), c.last_date + 1) - 1',
        ) }} as snapshot_date
    from {{ spans }} as c
    where c.grid_start_date < least(coalesce(c.first_activity_date, c.last_date + 1), c.last_date + 1)
{%- endmacro %}


{# The grid plus, for each window of N days, the state key N rows (= N days) back. #}
{% macro snapshot_grid_lags(grid, key, windows) -%}
    select
        *,
        {%- for n in windows %}
        lag(state_key, {{ n }}) over by_date as state_key_{{ n }}d_ago{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ grid }}
    window by_date as (partition by {{ key }} order by snapshot_date)
{%- endmacro %}


{#
  <measure>_<N>d for each measure and window: the running total now (`s`) minus N days ago (`s<N>`)
  from the states joined by snapshot_window_joins; comma-separated, no trailing comma.
#}
{% macro snapshot_window_totals(measures, windows) -%}
    {%- for n in windows %}
    {%- set last_window = loop.last %}
    {%- for m in measures %}
        coalesce(s.total_{{ m }}, 0) - coalesce(s{{ n }}.total_{{ m }}, 0) as {{ m }}_{{ n }}d
        {{- ',' if not (last_window and loop.last) }}
    {%- endfor %}
    {%- endfor %}
{%- endmacro %}


{# Joins the lagged grid row `g` to its state now (`s`) and N days ago (`s<N>`), per window. #}
{% macro snapshot_window_joins(states, windows) -%}
    left join {{ states }} as s on s.state_key = g.state_key
    {%- for n in windows %}
    left join {{ states }} as s{{ n }} on s{{ n }}.state_key = g.state_key_{{ n }}d_ago
    {%- endfor %}
{%- endmacro %}
