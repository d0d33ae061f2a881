{#
  Incremental runs by business date (docs/scale-out.md#daily-partitions-and-incremental-models).

  The daily models (tag `daily`: bronze's event-level checked tables, the event-level silver
  models, the facts and the daily feature snapshots) build either everything or a window of
  business dates:
    - no window (`dbt build`, `mopt demo`, a Dagster run over every partition): everything, from
      scratch, as a plain table (`should_full_refresh()` below is true for a daily model then, so
      an existing table is rebuilt, not merged);
    - a window, inclusive business dates (one Dagster day partition or a range), given as the
      environment variables MOPT_DBT_START_DATE and MOPT_DBT_END_DATE (what Dagster and the
      benchmark pass) or as `--vars '{start_date: 2025-04-01, end_date: 2025-04-02}'`: the dates
      from start_date - lookback_days to end_date are recomputed and replace those dates in the
      table (delete+insert on the date column), so a re-run of a day replaces it and rows that
      arrived late for the look-back days are picked up. A model whose table (or feature file)
      does not exist yet is built in full.

  The window is read at run time only, never while dbt parses: a changed `--vars` makes dbt
  parse the whole project again (~3 s), a changed environment variable read at run time does not.
  The window's bounds are computed here, in Jinja, and written as SQL date and timestamp
  literals, so the filters read the same on every engine.
#}


{# The window, or none: {'start': first date rebuilt (start_date - lookback_days), 'end': end_date}. #}
{% macro date_window() %}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set start = var('start_date', none) or (env_var('MOPT_DBT_START_DATE', '') or none) -%}
    {%- set end = var('end_date', none) or (env_var('MOPT_DBT_END_DATE', '') or none) -%}
    {%- if start is none and end is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if start is none or end is none -%}
        {{ exceptions.raise_compiler_error(
            "vars start_date and end_date go together (got start_date=" ~ start
            ~ ", end_date=" ~ end ~ ")") }}
    {%- endif -%}
    {%- set parse = modules.datetime.date.fromisoformat -%}
    {%- set start_date = parse(start | string) -%}
    {%- set end_date = parse(end | string) -%}
    {%- if end_date < start_date -%}
        {{ exceptions.raise_compiler_error(
            "var end_date " ~ end_date ~ " is before start_date " ~ start_date) }}
    {%- endif -%}
    {%- set lookback = var('lookback_days') | int -%}
    {{ return({
        'start': start_date - modules.datetime.timedelta(days=lookback),
        'end': end_date,
    }) }}
{% endmacro %}


{#
  dbt's own should_full_refresh() (the incremental materializations ask it), with one rule more:
  a daily model run without a window is rebuilt from scratch (see above). Read at run time, so
  the window does not have to be known when dbt parses.
#}
{% macro should_full_refresh() %}
    {%- set config_full_refresh = config.get('full_refresh') -%}
    {%- if config_full_refresh is none -%}
        {%- set config_full_refresh = flags.FULL_REFRESH -%}
    {%- endif -%}
    {%- if not config_full_refresh and 'daily' in (model.tags or []) and date_window() is none -%}
        {%- set config_full_refresh = true -%}
    {%- endif -%}
    {{ return(config_full_refresh) }}
{% endmacro %}


{#
  True when this run replaces a window in an existing relation: a window is given, the relation
  exists and no full refresh is asked for. False: the model builds every date.
#}
{% macro window_active() %}
    {#- a unit test has no relation of its own (`this` is none): it builds every date -#}
    {%- if not execute or date_window() is none or this is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if model.config.materialized == 'feature_file' -%}
        {#- Spark's feature_file has no window rewrite yet: it builds every date -#}
        {%- if target.type == 'spark' -%}
            {{ return(false) }}
        {%- endif -%}
        {%- set existing = adapter.get_relation(this.database, this.schema, this.identifier) -%}
        {%- if existing is none or should_full_refresh() -%}
            {{ return(false) }}
        {%- endif -%}
        {#- a file of the layout before date folders is rewritten in full, once -#}
        {{ return(feature_file_partitioned(feature_file_path(this.identifier))) }}
    {%- endif -%}
    {{ return(is_incremental()) }}
{% endmacro %}


{# A date as a SQL literal. #}
{% macro date_literal(value) %}date '{{ value.isoformat() }}'{% endmacro %}


{# `days` before the window's first date, as a SQL date literal (windows of features look back). #}
{% macro window_start_literal(days_before=0) -%}
    {{ date_literal(date_window()['start'] - modules.datetime.timedelta(days=days_before)) }}
{%- endmacro %}

{% macro window_end_literal() %}{{ date_literal(date_window()['end']) }}{% endmacro %}


{# The naive-UTC moment a business date starts, as a SQL timestamp literal. #}
{% macro business_day_start_literal(day) -%}
    {%- set tz = modules.pytz.timezone(var('business_timezone')) -%}
    {%- set local = tz.localize(modules.datetime.datetime(day.year, day.month, day.day)) -%}
    {%- set utc = local.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
    timestamp '{{ utc.strftime("%Y-%m-%d %H:%M:%S") }}'
{%- endmacro %}


{# `date_column` inside window `w` (inclusive business dates), or true for no window. #}
{% macro date_filter(date_column, w) -%}
    {%- if w is not none -%}
        ({{ date_column }} >= {{ date_literal(w['start']) }} and {{ date_column }} <= {{ date_literal(w['end']) }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{# A naive UTC timestamp inside window `w`'s business dates, or true for no window. On the
   timestamp itself (not its business date), so an engine can prune. #}
{% macro utc_filter(ts, w) -%}
    {%- if w is not none -%}
        ({{ ts }} >= {{ business_day_start_literal(w['start']) }}
        and {{ ts }} < {{ business_day_start_literal(w['end'] + modules.datetime.timedelta(days=1)) }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{# The window while this run replaces one in an existing relation (window_active), else none. #}
{% macro active_window() %}
    {{ return(date_window() if window_active() else none) }}
{% endmacro %}


{# In a model: a filter on a naive UTC timestamp / a business date, inside the window when it
   is active, else true. #}
{% macro in_date_window_utc(ts) -%}{{ utc_filter(ts, active_window()) }}{%- endmacro %}

{% macro in_date_window(date_column) -%}{{ date_filter(date_column, active_window()) }}{%- endmacro %}


{#
  A daily snapshot's grid bounds: every date when the window is inactive; else the window, from
  `days_before` days before its first date (the longest trailing feature window), so windowed
  totals on the window's dates are the same as in a full build.
#}
{% macro window_grid_first_date(first_date, days_before) -%}
    {%- if window_active() -%}
        greatest({{ first_date }}, {{ window_start_literal(days_before) }})
    {%- else -%}
        {{ first_date }}
    {%- endif -%}
{%- endmacro %}

{% macro window_grid_last_date(last_date) -%}
    {%- if window_active() -%}
        least({{ last_date }}, {{ window_end_literal() }})
    {%- else -%}
        {{ last_date }}
    {%- endif -%}
{%- endmacro %}


{# A filter on a business date: on or after the grid's first date (`days_before` the window's
   first date) when the window is active, else true. A snapshot's windowed totals are
   differences of running totals, so activity before its grid changes none of them. #}
{% macro in_window_grid(date_column, days_before) -%}
    {%- if window_active() -%}
        {{ date_column }} >= {{ window_start_literal(days_before) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{# The rows of `relation` on each `key`'s last `date_column` before `before` (a SQL date):
   the running state each key carries into a window. #}
{% macro last_rows_before(relation, key, date_column, before) %}
    select s.*
    from {{ relation }} as s
    inner join (
        select {{ key }}, max({{ date_column }}) as {{ date_column }}
        from {{ relation }}
        where {{ date_column }} < {{ before }}
        group by {{ key }}
    ) as last_day
        on last_day.{{ key }} = s.{{ key }} and last_day.{{ date_column }} = s.{{ date_column }}
{%- endmacro %}


{#
  True for a naive UTC timestamp after the window's last business date, when a window is given
  (else false): rows an incremental run has not built yet (tests/assert_silver_keeps_bronze.sql).
#}
{% macro after_date_window_utc(ts) -%}
    {%- set w = date_window() -%}
    {%- if w is not none -%}
        ({{ ts }} >= {{ business_day_start_literal(w['end'] + modules.datetime.timedelta(days=1)) }})
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}


{# The incremental silver models' partitioning: by their business date on Spark (insert_overwrite
   replaces the partitions a run writes); none on DuckDB (delete+insert on the date). #}
{% macro daily_partition_by(date_column) %}
    {{ return(date_column if target.type == 'spark' else none) }}
{% endmacro %}


{#
  The data tests of a daily model read only the window's dates when a window is given (a full
  build tests every row): dbt's get_where_subquery (every generic test reads its model through
  it) with the window added to the test's own `where`. The date column is the model's
  meta.window_column, else its unique_key (the date the incremental models replace); or a UTC
  timestamp, meta.window_timestamp (bronze's clean views).
#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set window_filter = test_window_filter() -%}
    {%- if window_filter -%}
        {%- do conditions.append(window_filter) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}


{# The window filter for a test of a daily model (see above), or none. #}
{% macro test_window_filter() -%}
    {%- set w = date_window() -%}
    {%- set attached = model.get('attached_node') if model is mapping else none -%}
    {%- if w is none or not attached or attached not in graph.nodes -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set parent = graph.nodes[attached] -%}
    {%- if 'daily' not in parent.tags -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set meta = parent.config.meta or {} -%}
    {%- if meta.get('window_timestamp') -%}
        {{ return(utc_filter(adapter.quote(meta['window_timestamp']), w)) }}
    {%- endif -%}
    {%- set column = meta.get('window_column') or parent.config.unique_key -%}
    {%- if column is not string -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(date_filter(adapter.quote(column), w)) }}
{%- endmacro %}


{# In a singular test: a filter on a business date / a naive UTC timestamp, inside the window
   when one is given (whether or not the model replaced one), else true. #}
{% macro in_test_window(date_column) -%}{{ date_filter(date_column, date_window()) }}{%- endmacro %}

{% macro in_test_window_utc(ts) -%}{{ utc_filter(ts, date_window()) }}{%- endmacro %}
