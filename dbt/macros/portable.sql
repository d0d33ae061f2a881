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


{# A call block's comma-separated SQL expressions as a list of their non-null values. #}
{% macro non_null_list() %}{{ return(adapter.dispatch('non_null_list', 'mopt')(caller())) }}{% endmacro %}
{% macro default__non_null_list(items) %}list_filter([{{ items }}], item -> item is not null){% endmacro %}
{% macro spark__non_null_list(items) %}filter(array({{ items }}), item -> item is not null){% endmacro %}


{# Text split on a one-character separator, as a list. #}
{% macro split_text(text, separator) %}{{ return(adapter.dispatch('split_text', 'mopt')(text, separator)) }}{% endmacro %}
{% macro default__split_text(text, separator) %}string_split({{ text }}, '{{ separator }}'){% endmacro %}
{#- Spark's split takes a regular expression: the separator as a character class. -#}
{% macro spark__split_text(text, separator) %}split({{ text }}, '[{{ separator }}]'){% endmacro %}


{# The list holds the value. #}
{% macro list_has(list, value) %}{{ return(adapter.dispatch('list_has', 'mopt')(list, value)) }}{% endmacro %}
{% macro default__list_has(list, value) %}list_contains({{ list }}, {{ value }}){% endmacro %}
{% macro spark__list_has(list, value) %}array_contains({{ list }}, {{ value }}){% endmacro %}


{# The list's element at a 1-based position (a SQL expression of at least 1), and its elements
   from position `first` to `last` (inclusive, 1-based, last >= first - 1). #}
{% macro list_element(list, position) %}{{ return(adapter.dispatch('list_element', 'mopt')(list, position)) }}{% endmacro %}
{% macro default__list_element(list, position) %}{{ list }}[{{ position }}]{% endmacro %}
{% macro spark__list_element(list, position) %}element_at({{ list }}, {{ position }}){% endmacro %}

{% macro list_slice(list, first, last) %}{{ return(adapter.dispatch('list_slice', 'mopt')(list, first, last)) }}{% endmacro %}
{% macro default__list_slice(list, first, last) %}{{ list }}[{{ first }}:{{ last }}]{% endmacro %}
{% macro spark__list_slice(list, first, last) %}slice({{ list }}, {{ first }}, ({{ last }}) - ({{ first }}) + 1){% endmacro %}


{# 'yyyymmdd' text as a date, null when it is not one. #}
{% macro try_parse_yyyymmdd(text) %}{{ return(adapter.dispatch('try_parse_yyyymmdd', 'mopt')(text)) }}{% endmacro %}
{% macro default__try_parse_yyyymmdd(text) %}cast(try_strptime({{ text }}, '%Y%m%d') as date){% endmacro %}
{% macro spark__try_parse_yyyymmdd(text) %}try_to_date({{ text }}, 'yyyyMMdd'){% endmacro %}


{# Whole seconds from timestamp `start` to `stop`, and days from date `start` to date `stop`. #}
{% macro seconds_between(start, stop) %}{{ return(adapter.dispatch('seconds_between', 'mopt')(start, stop)) }}{% endmacro %}
{% macro default__seconds_between(start, stop) %}date_diff('second', {{ start }}, {{ stop }}){% endmacro %}
{% macro spark__seconds_between(start, stop) %}timestampdiff(SECOND, {{ start }}, {{ stop }}){% endmacro %}

{% macro days_between(start, stop) %}{{ return(adapter.dispatch('days_between', 'mopt')(start, stop)) }}{% endmacro %}
{% macro default__days_between(start, stop) %}({{ stop }} - {{ start }}){% endmacro %}
{% macro spark__days_between(start, stop) %}datediff({{ stop }}, {{ start }}){% endmacro %}


{# Integer division. #}
{% macro int_div(dividend, divisor) %}{{ return(adapter.dispatch('int_div', 'mopt')(dividend, divisor)) }}{% endmacro %}
{% macro default__int_div(dividend, divisor) %}({{ dividend }} // {{ divisor }}){% endmacro %}
{% macro spark__int_div(dividend, divisor) %}({{ dividend }} div {{ divisor }}){% endmacro %}


{# The window's first non-null value of `value` (the caller adds `over ...`). #}
{% macro first_value_ignore_nulls(value) %}{{ return(adapter.dispatch('first_value_ignore_nulls', 'mopt')(value)) }}{% endmacro %}
{% macro default__first_value_ignore_nulls(value) %}first_value({{ value }} ignore nulls){% endmacro %}
{% macro spark__first_value_ignore_nulls(value) %}first_value({{ value }}, true){% endmacro %}


{# ISO day of the week (Monday 1 .. Sunday 7) and the day's English name ('Monday'). #}
{% macro iso_day_of_week(day) %}{{ return(adapter.dispatch('iso_day_of_week', 'mopt')(day)) }}{% endmacro %}
{% macro default__iso_day_of_week(day) %}isodow({{ day }}){% endmacro %}
{% macro spark__iso_day_of_week(day) %}(weekday({{ day }}) + 1){% endmacro %}

{% macro day_name(day) %}{{ return(adapter.dispatch('day_name', 'mopt')(day)) }}{% endmacro %}
{% macro default__day_name(day) %}dayname({{ day }}){% endmacro %}
{% macro spark__day_name(day) %}date_format({{ day }}, 'EEEE'){% endmacro %}


{# One row per date from `first` to `last` (none when last < first): a set-returning select item. #}
{% macro date_series(first, last) %}{{ return(adapter.dispatch('date_series', 'mopt')(first, last)) }}{% endmacro %}
{% macro default__date_series(first, last) %}cast(unnest(generate_series({{ first }}, {{ last }}, interval 1 day)) as date){% endmacro %}
{#- Spark's sequence fails on last < first, where DuckDB's is empty. -#}
{% macro spark__date_series(first, last) -%}
    explode(case when {{ first }} <= {{ last }} then sequence({{ first }}, {{ last }}, interval 1 day) end)
{%- endmacro %}


{# A struct from `fields` (name -> SQL expression, in order): compared field by field. #}
{% macro struct_from(fields) %}{{ return(adapter.dispatch('struct_from', 'mopt')(fields)) }}{% endmacro %}
{% macro default__struct_from(fields) -%}
    { {%- for name, value in fields.items() %}'{{ name }}': {{ value }}{{ ', ' if not loop.last }}{% endfor -%} }
{%- endmacro %}
{% macro spark__struct_from(fields) -%}
    named_struct({% for name, value in fields.items() %}'{{ name }}', {{ value }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}


{# Every column of `relation` (an alias, or '' for all) but `columns`. #}
{% macro star_except(columns, relation='') %}{{ return(adapter.dispatch('star_except', 'mopt')(columns, relation)) }}{% endmacro %}
{% macro default__star_except(columns, relation) %}{{ relation ~ '.' if relation }}* exclude ({{ columns | join(', ') }}){% endmacro %}
{% macro spark__star_except(columns, relation) %}{{ relation ~ '.' if relation }}* except ({{ columns | join(', ') }}){% endmacro %}


{# `materialized` for a common table expression read several times (DuckDB's hint; Spark has none). #}
{% macro cte_materialized() %}{{ return(adapter.dispatch('cte_materialized', 'mopt')()) }}{% endmacro %}
{% macro default__cte_materialized() %}materialized{% endmacro %}
{% macro spark__cte_materialized() %}{% endmacro %}


{#
  `union all by name` over the relations (name -> its columns, in order): the columns of all of
  them, in order of first appearance; a relation lacking one gives null. Spelled out, as Spark's
  SQL has no union by name.
#}
{% macro union_all_by_name(relations) -%}
    {%- set columns = [] -%}
    {%- for cols in relations.values() -%}
        {%- for c in cols if c not in columns -%}{%- do columns.append(c) -%}{%- endfor -%}
    {%- endfor -%}
    {%- for relation, cols in relations.items() %}
    select
        {%- for c in columns %}
        {{ c if c in cols else 'null as ' ~ c }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ relation }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
