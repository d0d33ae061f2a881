{#
  `feature_file`: the model is written once, as the Parquet files Feast reads, and the relation is
  a view over them. The files are a directory, <features dir>/<model name without feat_>.parquet/,
  partitioned by the model's date (meta.window_column) in Hive's layout:
  `snapshot_date=2025-04-01/data_0.parquet`, the date in the folder's name only (as Spark writes and
  reads a partitioned table). DuckDB, Polars, Spark and Feast read the directory as one table.

  A table plus a copy to Parquet wrote every feature row twice; at 100k customers x 365 days that
  write was most of the build. The features dir is $MOPT_FEATURES_DIR, else `features/` beside the
  DuckDB file (the platform's default layout).

  With a date window (macros/date_window.sql) and the directory already there, only the window's
  dates are computed and written: each date's file is replaced, the other dates' files are not
  touched, so a day costs a day's rows, not the whole history's. The write is checked: the
  window's dates must hold exactly the rows written (a date that lost every row, or a second file
  in a date's folder, would leave old rows behind); a full build then rewrites the directory.
#}

{% macro feature_files_dir() -%}
    {%- set dir = env_var('MOPT_FEATURES_DIR', '') -%}
    {%- if not dir -%}
        {%- set db_path = target.get('path') -%}
        {%- set dir = (db_path.rsplit('/', 1)[0] if '/' in db_path else '.') ~ '/features' -%}
    {%- endif -%}
    {%- if not dir.startswith('/') -%}
        {%- set dir = invocation_args_dict.get('project_dir') ~ '/' ~ dir -%}
    {%- endif -%}
    {{- return(dir) -}}
{%- endmacro %}


{% macro feature_file_path(model_name) -%}
    {{- return(feature_files_dir() ~ '/' ~ model_name.replace('feat_', '', 1) ~ '.parquet') -}}
{%- endmacro %}


{# The date column a feature file is partitioned by. #}
{% macro feature_file_partition(node) -%}
    {{- return((node.config.meta or {}).get('window_column') or 'snapshot_date') -}}
{%- endmacro %}


{# The date folders' files, as DuckDB reads them (the date from the folder's name). #}
{% macro feature_file_scan(path) -%}
    read_parquet('{{ path }}/*/*.parquet', hive_partitioning = true)
{%- endmacro %}


{# True when the feature file is a directory of date folders (a window can replace dates in it). #}
{% macro feature_file_partitioned(path) %}
    {%- set found = run_query("select count(*) from glob('" ~ path ~ "/*/*.parquet')") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{% endmacro %}


{#
  A partitioned copy of no rows writes no file, and a reader of the directory (the view's glob,
  Feast) needs one to know the columns: one empty file goes in a 1900-01-01 folder. DuckDB makes
  folders only in a partitioned copy, so the folder is made by one with a placeholder row, and its
  file is then replaced by the model's columns and no rows.
#}
{% macro write_empty_feature_file(path, sql, date_column) %}
    {%- set folder = path ~ '/' ~ date_column ~ '=1900-01-01' -%}
    {%- do run_query("copy (select date '1900-01-01' as " ~ adapter.quote(date_column)
        ~ ", true as placeholder) to '" ~ path ~ "' (format parquet, partition_by ("
        ~ adapter.quote(date_column) ~ "), filename_pattern 'data_{i}', overwrite_or_ignore)") -%}
    {%- do run_query("copy (select * exclude (" ~ adapter.quote(date_column) ~ ") from (" ~ sql
        ~ ") as features limit 0) to '" ~ folder ~ "/data_0.parquet' (format parquet, compression zstd)") -%}
{% endmacro %}


{% materialization feature_file, adapter='duckdb' %}
    {%- set path = feature_file_path(this.identifier) -%}
    {%- set date_column = feature_file_partition(model) -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set existing_relation = load_cached_relation(this) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {%- if config.get('contract').enforced %}
        {{ get_assert_columns_equivalent(sql) }}
    {%- endif %}
    {%- if existing_relation is not none and existing_relation.type != 'view' %}
        {{ adapter.drop_relation(existing_relation) }}
    {%- endif %}

    {#- Row order does not matter to Feast; keeping it would buffer most of the file in memory.
        One open file per date: more dates than open files would split a date over files. -#}
    {%- do run_query("set preserve_insertion_order = false") -%}
    {%- do run_query("set partitioned_write_max_open_files = 100000") -%}
    {%- set options = "format parquet, compression zstd, partition_by (" ~ adapter.quote(date_column)
        ~ "), filename_pattern 'data_{i}'" -%}
    {%- if window_active() %}
    {#- An incremental run: the window's dates are written over their files (one per date). -#}
    {% call statement('write_file', fetch_result=true) -%}
        copy (
            select * from ({{ sql }}) as features where {{ in_date_window(adapter.quote(date_column)) }}
        ) to '{{ path }}' ({{ options }}, overwrite_or_ignore)
    {%- endcall %}
    {%- set written = load_result('write_file')['data'][0][0] -%}
    {%- set held = run_query("select count(*) from " ~ feature_file_scan(path)
        ~ " where " ~ in_date_window(adapter.quote(date_column))).columns[0].values()[0] -%}
    {%- if held != written -%}
        {{ exceptions.raise_compiler_error(
            "feature file " ~ path ~ ": the window's dates hold " ~ held ~ " rows after writing "
            ~ written ~ " (a date's folder kept older files); build it without a window to rewrite it") }}
    {%- endif -%}
    {%- else %}
    {#- Every date, the directory's files replaced (`overwrite` removes them first). -#}
    {% call statement('write_file', fetch_result=true) -%}
        copy ({{ sql }}) to '{{ path }}' ({{ options }}, overwrite)
    {%- endcall %}
    {%- if load_result('write_file')['data'][0][0] == 0 %}
        {%- do write_empty_feature_file(path, sql, date_column) -%}
    {%- endif %}
    {%- endif %}
    {%- do run_query("reset partitioned_write_max_open_files") -%}
    {%- do run_query("reset preserve_insertion_order") -%}
    {#- The view keeps the model's column order (the date comes last from the folders). -#}
    {%- set columns = [] -%}
    {%- for name in model.columns %}{% do columns.append(adapter.quote(name)) %}{% endfor -%}
    {% call statement('main') -%}
        create or replace view {{ target_relation }} as
        select {{ columns | join(', ') if columns else '*' }} from {{ feature_file_scan(path) }}
    {%- endcall %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{#
  On Spark: the model is written as a Parquet directory (part files) at the same path, and the
  relation is a view over it. An incremental window is not ported yet (docs/scale-out.md): with
  a window the file is rebuilt in full, as DuckDB does on a first run.
#}
{% materialization feature_file, adapter='spark' %}
    {%- set path = feature_file_path(this.identifier) -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set existing_relation = load_cached_relation(this) -%}

    {{ run_hooks(pre_hooks) }}
    {%- if existing_relation is not none and existing_relation.type != 'view' %}
        {{ adapter.drop_relation(existing_relation) }}
    {%- endif %}
    {% call statement('write_file') -%}
        insert overwrite directory '{{ path }}' using parquet
        select * from ({{ sql }}) as features
    {%- endcall %}
    {% call statement('main') -%}
        create or replace view {{ target_relation }} as select * from parquet.`{{ path }}`
    {%- endcall %}
    {{ run_hooks(post_hooks) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
