{#
  The bronze layer is generated from the raw data contract (models/bronze/raw/__sources.yml):
  each column is typed with try_cast, and every rule a row breaks is listed in _broken_rules as
  '<column>:<rule>' (a reference to a row that was itself quarantined is parent_quarantined).
  Clean rows form the bronze views, broken ones the quarantine; both read the
  same checked table, so bronze + quarantine reconcile with landing by construction (and a test
  says so).

  The event-level tables (sessions, events, marketing_touches) are incremental by the business
  date of one timestamp (`window_timestamp`; macros/date_window.sql): a window run types and
  checks only the landed rows of the window's dates (and every row whose timestamp is missing or
  broken: their _business_date is 1900-01-01, rebuilt on every run), against every landed row's
  key for duplicates and the referenced tables' checked rows.
#}

{% macro contract_source(table_name) %}
    {% for node in graph.sources.values() %}
        {% if node.source_name == 'raw' and node.name == table_name %}
            {{ return(node) }}
        {% endif %}
    {% endfor %}
    {{ exceptions.raise_compiler_error("No table '" ~ table_name ~ "' in the raw contract") }}
{% endmacro %}


{% macro contract_meta(node_or_column) %}
    {% set config = node_or_column.get('config') or {} %}
    {{ return(config.get('meta') or node_or_column.get('meta') or {}) }}
{% endmacro %}


{#- A column's text, trimmed; the usual spellings of a missing value are null (NaN is a number
    in a number column, so it is caught there as not finite). -#}
{% macro contract_text(column) %}
    {%- set spellings = ["", "NULL", "null", "Null", "None", "none", "N/A", "n/a"] -%}
    {%- if column.data_type != 'double' %}{% set spellings = spellings + ["NaN", "nan"] %}{% endif -%}
    {%- set quoted = [] %}{% for v in spellings %}{% do quoted.append("'" ~ v ~ "'") %}{% endfor -%}
    case when trim({{ adapter.quote(column.name) }}) in ({{ quoted | join(', ') }}) then null
        else trim({{ adapter.quote(column.name) }}) end
{%- endmacro %}


{% macro contract_cast(column) %}
    {%- set raw = contract_text(column) -%}
    {%- if column.data_type == 'timestamp' -%}
        {{ try_cast_utc_timestamp(raw) }}
    {%- else -%}
        try_cast({{ raw }} as {{ sql_type(column.data_type) }})
    {%- endif -%}
{% endmacro %}


{#- A column typed from its trimmed text alone, without the spellings of a missing value: for
    filters and key lookups over every landed row, where a spelling (still text, or null) can
    match nothing the typed rows hold, and its list ran as a join per row (2x slower). -#}
{% macro contract_cast_trimmed(column_name, data_type) %}
    {%- set trimmed = 'trim(' ~ adapter.quote(column_name) ~ ')' -%}
    {%- if data_type == 'timestamp' -%}
        {{ try_cast_utc_timestamp(trimmed) }}
    {%- else -%}
        try_cast({{ trimmed }} as {{ sql_type(data_type) }})
    {%- endif -%}
{% endmacro %}


{# (condition, rule name) pairs for one column; conditions read the typed value and its raw text. #}
{% macro contract_rules(column) %}
    {%- set c = adapter.quote(column.name) -%}
    {%- set raw = '_raw__' ~ column.name -%}
    {%- set meta = contract_meta(column) -%}
    {%- set rules = [(raw ~ ' is not null and ' ~ c ~ ' is null', 'type_' ~ column.data_type)] -%}
    {#- Values that cast but are no data: NaN, inf, 1e309, -infinity; 1.5 rounded to an integer. -#}
    {%- if column.data_type in ('double', 'timestamp', 'date') -%}
        {%- do rules.append((is_not_finite(c, column.data_type), 'not_finite')) -%}
    {%- endif -%}
    {%- if column.data_type == 'bigint' -%}
        {%- do rules.append((
            c ~ ' is not null and not ' ~ regexp_full_match(raw, '[+-]?[0-9]+([.]0*)?'),
            'not_integer')) -%}
    {%- endif -%}
    {%- if column.data_type in ('timestamp', 'date') -%}
        {#- Placeholders such as epoch or 1900-01-01 are not times: a column may set its own. -#}
        {%- set earliest = meta.get('earliest') or var('contract_earliest_date') -%}
        {%- do rules.append((c ~ " < '" ~ earliest ~ "'", 'before_' ~ earliest)) -%}
    {%- endif -%}
    {%- if meta.get('required') -%}
        {%- do rules.append((raw ~ ' is null', 'required')) -%}
    {%- endif -%}
    {%- if meta.get('accepted') -%}
        {%- set values = [] -%}
        {%- for v in meta['accepted'] %}{% do values.append("'" ~ v ~ "'") %}{% endfor -%}
        {%- do rules.append((c ~ ' not in (' ~ values | join(', ') ~ ')', 'accepted_values')) -%}
    {%- endif -%}
    {%- if meta.get('min') is not none -%}
        {%- do rules.append((c ~ ' < ' ~ meta['min'], 'below_min')) -%}
    {%- endif -%}
    {%- if meta.get('max') is not none -%}
        {%- do rules.append((c ~ ' > ' ~ meta['max'], 'above_max')) -%}
    {%- endif -%}
    {%- if meta.get('money') -%}
        {%- do rules.append((c ~ ' > ' ~ var('contract_money_max'), 'above_money_max')) -%}
    {%- endif -%}
    {%- if meta.get('not_future') -%}
        {%- do rules.append((c ~ ' > ' ~ utc_now(), 'in_future')) -%}
    {%- endif -%}
    {%- if meta.get('not_before') -%}
        {%- do rules.append((c ~ ' < ' ~ adapter.quote(meta['not_before']), 'before_' ~ meta['not_before'])) -%}
    {%- endif -%}
    {%- if meta.get('time_zone') -%}
        {#- IANA names as packaged by pytz (DuckDB also knows legacy aliases such as 'IST'). -#}
        {%- set zones = [] -%}
        {%- for z in modules.pytz.all_timezones %}{% do zones.append("'" ~ z ~ "'") %}{% endfor -%}
        {%- do rules.append((c ~ ' not in (' ~ zones | join(', ') ~ ')', 'unknown_time_zone')) -%}
    {%- endif -%}
    {%- if meta.get('references') -%}
        {#- Against the referenced table's checked rows: a value it lacks is unknown (when that
            table was exported at all), a value only its quarantined rows have is a child of a
            quarantined row, which goes to quarantine too rather than vanish in silver. -#}
        {%- set ref_table = meta['references'].split('.')[0] -%}
        {%- do rules.append((
            c ~ ' is not null and _parent_clean__' ~ column.name ~ ' is null'
            ~ ' and _parent_exported__' ~ column.name,
            'unknown_' ~ ref_table)) -%}
        {%- do rules.append(('not _parent_clean__' ~ column.name, 'parent_quarantined')) -%}
    {%- endif -%}
    {{ return(rules) }}
{% endmacro %}


{#- The business date a checked row is filed under: its timestamp's, or 1900-01-01 when the
    timestamp is missing or not a time (such rows are rebuilt on every window run). -#}
{% macro contract_business_date(ts) -%}
    case when {{ ts }} is null or {{ is_not_finite(ts, 'timestamp') }} then date '1900-01-01'
        else {{ business_date(ts) }} end
{%- endmacro %}


{% macro contract_checked(table_name, window_timestamp=none) %}
{%- if execute -%}
{%- set node = contract_source(table_name) -%}
{%- set columns = node.columns.values() | list -%}
{%- set key = contract_meta(node)['key'] -%}
{%- set windowed = window_timestamp is not none and window_active() -%}
{%- if windowed -%}
{#- The window's rows are found on every landed row (at 100k x 365, 7.5M events): the spellings
    of a missing value do not parse as times either. -#}
{%- set window_cast = contract_cast_trimmed(window_timestamp, 'timestamp') -%}
{%- endif %}
with

landed as (
    select * from {{ source('raw', table_name) }}
    {%- if windowed %}
    where {{ window_cast }} is null or {{ is_not_finite(window_cast, 'timestamp') }}
        or {{ in_date_window_utc(window_cast) }}
    {%- endif %}
),

typed as (
    select
        {%- for column in columns %}
        {{ contract_cast(column) }} as {{ adapter.quote(column.name) }},
        {{ contract_text(column) }} as _raw__{{ column.name }},
        {%- endfor %}
        _source_file,
        _row_number,
        _load_id,
        _loaded_at
    from landed
),

{%- set derived = [] -%}
{%- for column in columns if contract_meta(column).get('derive_if_absent') %}{% do derived.append(column.name) %}{% endfor %}
{%- if derived %}
{#- An export without ids (e.g. orders-only) gets stable ids from the row's content; identical
    rows of one file are told apart by their order, so none is lost. The order counts within the
    file: the same row in two files gets the same id (a duplicate key, not a second order). -#}
{%- set id_column = derived[0] %}
{%- set parts = [] %}
{%- for column in columns if column.name != id_column %}{% do parts.append('_raw__' ~ column.name) %}{% endfor %}

with_ids as (
    select
        {%- for column in columns %}
        {%- if column.name == id_column %}
        coalesce(
            {{ adapter.quote(id_column) }},
            '{{ table_name }}_' || md5(concat_ws('|', {{ parts | join(', ') }}, cast(row_number() over (
                partition by {{ parts | join(', ') }}, _source_file order by _row_number) as string)))
        ) as {{ adapter.quote(id_column) }},
        {%- else %}
        {{ adapter.quote(column.name) }},
        {%- endif %}
        _raw__{{ column.name }},
        {%- endfor %}
        _source_file,
        _row_number,
        _load_id,
        _loaded_at
    from typed
),
{%- set previous = 'with_ids' %}
{%- else %}
{%- set previous = 'typed' %}
{%- endif %}

{%- set versioned_by = contract_meta(node).get('versioned_by') %}
{%- if versioned_by %}
{#- A versioned table (e.g. customers, by updated_at) keeps every version: only rows of one file
    with the same key and version are duplicates, and of those only the rows whose content
    differs from the first one's (identical rows are one version, de-duplicated in silver).
    Such tables are small (one row per customer version), so a window over all rows will do. #}

{%- set content -%}
md5(to_json({{ struct_of(columns | map(attribute='name') | list) }}))
{%- endset %}

ranked as (
    select
        *,
        {%- for k in key %}
        {{ adapter.quote(k) }} is not null and
        {%- endfor %}
        {{ content }} != first_value({{ content }}) over (
            partition by
                {%- for k in key %} {{ adapter.quote(k) }},{% endfor %} {{ adapter.quote(versioned_by) }}, _source_file
            order by _row_number
        ) as _is_duplicate
    from {{ previous }}
),
{%- else %}
{#- Duplicate keys are rare: find them by counting (a hash aggregate without payload), then the
    first row of each, in file and row order, among those few keys only. A window run counts the
    window's keys among every landed row's keys (a duplicate may sit on another date). #}
{%- if windowed %}
{%- set key_rows = 'all_keys' %}

all_keys as (
    select
        {%- for k in key %}
        {{ contract_cast_trimmed(k, node.columns[k].data_type) }} as {{ adapter.quote(k) }},
        {%- endfor %}
        _source_file,
        _row_number
    from {{ source('raw', table_name) }}
),

window_keys as (
    select distinct
        {%- for k in key %}
        {{ adapter.quote(k) }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ previous }}
),
{%- else %}
{%- set key_rows = previous %}
{%- endif %}

duplicate_keys as (
    select
        {%- for k in key %}
        {{ adapter.quote(k) }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ key_rows }}
    where {% for k in key %}{{ adapter.quote(k) }} is not null{{ ' and ' if not loop.last }}{% endfor %}
    {%- if windowed %}
        and ({% for k in key %}{{ adapter.quote(k) }}{{ ', ' if not loop.last }}{% endfor %}) in (select * from window_keys)
    {%- endif %}
    group by all
    having count(*) > 1
),

first_rows as (
    select
        {%- for k in key %}
        {{ adapter.quote(k) }},
        {%- endfor %}
        min({{ struct_of(['_source_file', '_row_number']) }}) as _first_row
    from {{ key_rows }}
    semi join duplicate_keys
        using ({% for k in key %}{{ adapter.quote(k) }}{{ ', ' if not loop.last }}{% endfor %})
    group by all
),

ranked as (
    select
        candidates.*,
        first_rows._first_row is not null
            and {{ struct_of(['_source_file', '_row_number']) }}
                != first_rows._first_row as _is_duplicate
    from {{ previous }} as candidates
    left join first_rows
        using ({% for k in key %}{{ adapter.quote(k) }}{{ ', ' if not loop.last }}{% endfor %})
),
{%- endif %}

{%- set references = [] %}
{%- for column in columns if contract_meta(column).get('references') %}
{%- do references.append([column.name] + contract_meta(column)['references'].split('.')) %}
{%- endfor %}
{%- for column, ref_table, ref_column in references %}

{#- The referenced keys, each once, and whether any of its rows reached bronze (a hash join on
    keys: the checked tables are the big ones). -#}
parents__{{ column }} as (
    select
        {{ adapter.quote(ref_column) }} as _parent_key__{{ column }},
        bool_or({{ list_length('_broken_rules') }} = 0) as _parent_clean__{{ column }}
    from {{ ref('chk_raw__' ~ ref_table) }}
    where {{ adapter.quote(ref_column) }} is not null
    {%- if windowed %}
        and {{ adapter.quote(ref_column) }} in (select {{ adapter.quote(column) }} from {{ previous }})
    {%- endif %}
    group by 1
),

{#- Whether that table was exported at all (a flag, not a subquery: Spark allows none in the
    list of rules). -#}
exported__{{ column }} as (
    select count(*) > 0 as _parent_exported__{{ column }}
    from {{ ref('chk_raw__' ~ ref_table) }}
),
{%- endfor %}

checked as (
    select
        {%- for column in columns %}
        ranked.{{ adapter.quote(column.name) }},
        {%- endfor %}
        _source_file,
        _row_number,
        _load_id,
        _loaded_at,
        {%- set rule_checks = [] %}
        {%- for column in columns %}
        {%- for condition, rule in contract_rules(column) %}
        {%- do rule_checks.append("case when " ~ condition ~ " then '" ~ column.name ~ ":" ~ rule ~ "' end") %}
        {%- endfor %}
        {%- endfor %}
        {%- do rule_checks.append("case when _is_duplicate then '" ~ key | join('+') ~ ":duplicate_key' end") %}
        {{ list_of_non_null(rule_checks) }} as _broken_rules
        {%- if window_timestamp is not none %},
        {{ contract_business_date('ranked.' ~ adapter.quote(window_timestamp)) }} as _business_date
        {%- endif %}
    from ranked
    {%- for column, ref_table, ref_column in references %}
    left join parents__{{ column }}
        on ranked.{{ adapter.quote(column) }} = parents__{{ column }}._parent_key__{{ column }}
    cross join exported__{{ column }}
    {%- endfor %}
)

select * from checked
{%- else -%}
select 1 as placeholder from {{ source('raw', table_name) }}
{%- endif -%}
{% endmacro %}


{% macro contract_clean(table_name) %}
{%- if execute -%}
{%- set columns = contract_source(table_name).columns.values() | list -%}
select
    {%- for column in columns %}
    {{ adapter.quote(column.name) }},
    {%- endfor %}
    _source_file,
    _row_number,
    _load_id,
    _loaded_at
from {{ ref('chk_raw__' ~ table_name) }}
where {{ list_length('_broken_rules') }} = 0
{%- else -%}
select 1 from {{ ref('chk_raw__' ~ table_name) }}
{%- endif -%}
{% endmacro %}
