{#
  Incremental runs by business date (docs/scale-out.md#daily-partitions-and-incremental-models).

  The event-level silver models and the daily feature snapshots build either everything or a
  window of business dates:
    - no window (`dbt build`, `mopt demo`, a Dagster run over every partition): everything, from
      scratch, as a plain table (the incremental silver models are configured
      `full_refresh=daily_full_refresh()`, so an existing table is rebuilt, not merged);
    - `--vars '{start_date: 2025-04-01, end_date: 2025-04-02}'` (inclusive business dates; one
      Dagster day partition or a range): the dates from start_date - lookback_days to end_date
      are recomputed and replace those dates in the table (delete+insert on the date column),
      so a re-run of a day replaces it and rows that arrived late for the look-back days are
      picked up. A model whose table (or feature file) does not exist yet is built in full.

  The window's bounds are computed here, in Jinja, and written as SQL date and timestamp
  literals, so the filters read the same on every engine.
#}


{# The window, or none: {'start': first date rebuilt (start_date - lookback_days), 'end': end_date}. #}
{% macro date_window() %}
    {%- set start = var('start_date', none) -%}
    {%- set end = var('end_date', none) -%}
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


{# Config for the incremental silver models: no window given, a full rebuild (see above). #}
{% macro daily_full_refresh() %}
    {{ return(true if date_window() is none else none) }}
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
        {{ return(existing is not none and not should_full_refresh()) }}
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


{#
  A filter on a naive UTC timestamp: inside the window's business dates when the window is
  active, else true. On the timestamp itself (not its business date), so an engine can prune.
#}
{% macro in_date_window_utc(ts) -%}
    {%- if window_active() -%}
        {%- set w = date_window() -%}
        ({{ ts }} >= {{ business_day_start_literal(w['start']) }}
        and {{ ts }} < {{ business_day_start_literal(w['end'] + modules.datetime.timedelta(days=1)) }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{# A filter on a business date: inside the window when it is active, else true. #}
{% macro in_date_window(date_column) -%}
    {%- if window_active() -%}
        ({{ date_column }} >= {{ window_start_literal() }} and {{ date_column }} <= {{ window_end_literal() }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


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
