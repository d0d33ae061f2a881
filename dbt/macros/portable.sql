{#
  The few constructs DuckDB and Spark spell differently, dispatched by adapter (default: DuckDB).
  Models and macros call these instead of the engine's own spelling; everything else is SQL both
  engines read the same way.
#}

{# A contract type (varchar, bigint, double, boolean, date, timestamp) in the engine's spelling. #}
{% macro sql_type(data_type) %}{{ return(adapter.dispatch('sql_type', 'mopt')(data_type)) }}{% endmacro %}
{% macro default__sql_type(data_type) %}{{ return(data_type) }}{% endmacro %}
{% macro spark__sql_type(data_type) %}{{ return('string' if data_type == 'varchar' else data_type) }}{% endmacro %}


{# Text to a naive UTC timestamp (an offset in the text is honoured), null when it does not parse. #}
{% macro try_cast_utc_timestamp(text) %}{{ return(adapter.dispatch('try_cast_utc_timestamp', 'mopt')(text)) }}{% endmacro %}
{% macro default__try_cast_utc_timestamp(text) %}timezone('UTC', try_cast({{ text }} as timestamptz)){% endmacro %}
{#- Spark's session time zone is UTC (profiles.yml): its TIMESTAMP is the same instant. -#}
{% macro spark__try_cast_utc_timestamp(text) %}try_cast({{ text }} as timestamp){% endmacro %}


{# The current time as a naive UTC timestamp. #}
{% macro utc_now() %}{{ return(adapter.dispatch('utc_now', 'mopt')()) }}{% endmacro %}
{% macro default__utc_now() %}timezone('UTC', now()){% endmacro %}
{% macro spark__utc_now() %}current_timestamp(){% endmacro %}


{# True when a typed value is NaN or infinite (a Spark date or timestamp never is). #}
{% macro is_not_finite(value, data_type) %}{{ return(adapter.dispatch('is_not_finite', 'mopt')(value, data_type)) }}{% endmacro %}
{% macro default__is_not_finite(value, data_type) %}not isfinite({{ value }}){% endmacro %}
{% macro spark__is_not_finite(value, data_type) -%}
    {%- if data_type == 'double' -%}
        (isnan({{ value }}) or abs({{ value }}) = double('infinity'))
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}


{# The whole text matches the regular expression. #}
{% macro regexp_full_match(text, pattern) %}{{ return(adapter.dispatch('regexp_full_match', 'mopt')(text, pattern)) }}{% endmacro %}
{% macro default__regexp_full_match(text, pattern) %}regexp_full_match({{ text }}, '{{ pattern }}'){% endmacro %}
{% macro spark__regexp_full_match(text, pattern) %}regexp_like({{ text }}, '^(?:{{ pattern }})$'){% endmacro %}


{# A struct of named columns (`names`: a list of column names), comparable and orderable. #}
{% macro struct_of(names) %}{{ return(adapter.dispatch('struct_of', 'mopt')(names)) }}{% endmacro %}
{% macro default__struct_of(names) -%}
    struct_pack({% for n in names %}{{ adapter.quote(n) }} := {{ adapter.quote(n) }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}
{% macro spark__struct_of(names) -%}
    named_struct({% for n in names %}'{{ n }}', {{ adapter.quote(n) }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}


{# A list of the non-null values of the SQL expressions `items`. #}
{% macro list_of_non_null(items) %}{{ return(adapter.dispatch('list_of_non_null', 'mopt')(items)) }}{% endmacro %}
{% macro default__list_of_non_null(items) -%}
    list_filter([{{ items | join(', ') }}], item -> item is not null)
{%- endmacro %}
{% macro spark__list_of_non_null(items) -%}
    filter(array({{ items | join(', ') }}), item -> item is not null)
{%- endmacro %}


{# A list's length, its first element (null if empty), and its elements joined by `separator`. #}
{% macro list_length(list) %}{{ return(adapter.dispatch('list_length', 'mopt')(list)) }}{% endmacro %}
{% macro default__list_length(list) %}len({{ list }}){% endmacro %}
{% macro spark__list_length(list) %}size({{ list }}){% endmacro %}

{% macro list_first(list) %}{{ return(adapter.dispatch('list_first', 'mopt')(list)) }}{% endmacro %}
{% macro default__list_first(list) %}{{ list }}[1]{% endmacro %}
{% macro spark__list_first(list) %}element_at({{ list }}, 1){% endmacro %}

{% macro list_join(list, separator) %}{{ return(adapter.dispatch('list_join', 'mopt')(list, separator)) }}{% endmacro %}
{% macro default__list_join(list, separator) %}array_to_string({{ list }}, '{{ separator }}'){% endmacro %}
{% macro spark__list_join(list, separator) %}array_join({{ list }}, '{{ separator }}'){% endmacro %}


{# A table alias's whole row as JSON text. #}
{% macro row_to_json(alias) %}{{ return(adapter.dispatch('row_to_json', 'mopt')(alias)) }}{% endmacro %}
{% macro default__row_to_json(alias) %}to_json({{ alias }}){% endmacro %}
{% macro spark__row_to_json(alias) %}to_json(struct({{ alias }}.*)){% endmacro %}
