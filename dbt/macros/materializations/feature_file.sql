{#
  `feature_file`: the model is written once, as the Parquet file Feast reads
  (<features dir>/<model name without feat_>.parquet), and the relation is a view over that file.

  A table plus a copy to Parquet wrote every feature row twice; at 100k customers x 365 days that
  write was most of the build. The features dir is $MOPT_FEATURES_DIR, else `features/` beside the
  DuckDB file (the platform's default layout).

  With a date window (macros/date_window.sql) and the file already there, only the window's
  snapshot dates are computed; they replace those dates in the file.
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


{% materialization feature_file, adapter='duckdb' %}
    {%- set path = feature_file_path(this.identifier) -%}
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

    {#- Row order does not matter to Feast; keeping it would buffer most of the file in memory. #}
    {%- if window_active() %}
    {#- An incremental run (macros/date_window.sql): the file's rows outside the window, then the
        window's rows; DuckDB writes a temporary file and renames it, so it may read the old one. #}
    {% call statement('write_file') -%}
        set preserve_insertion_order = false;
        copy (
            select * from read_parquet('{{ path }}')
            where not {{ in_date_window('snapshot_date') }}
            union all
            select * from ({{ sql }})
        ) to '{{ path }}' (format parquet, compression zstd, use_tmp_file true);
        reset preserve_insertion_order;
    {%- endcall %}
    {%- else %}
    {% call statement('write_file') -%}
        set preserve_insertion_order = false;
        copy ({{ sql }}) to '{{ path }}' (format parquet, compression zstd);
        reset preserve_insertion_order;
    {%- endcall %}
    {%- endif %}
    {% call statement('main') -%}
        create or replace view {{ target_relation }} as select * from read_parquet('{{ path }}')
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
