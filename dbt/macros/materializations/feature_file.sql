{#
  `feature_file`: the model is written once, as the Parquet file Feast reads
  (<features dir>/<model name without feat_>.parquet), and the relation is a view over that file.

  A table plus a copy to Parquet wrote every feature row twice; at 100k customers x 365 days that
  write was most of the build. The features dir is $MOPT_FEATURES_DIR, else `features/` beside the
  DuckDB file (the platform's default layout).
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
    {% call statement('write_file') -%}
        set preserve_insertion_order = false;
        copy ({{ sql }}) to '{{ path }}' (format parquet, compression zstd);
        reset preserve_insertion_order;
    {%- endcall %}
    {% call statement('main') -%}
        create or replace view {{ target_relation }} as select * from read_parquet('{{ path }}')
    {%- endcall %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
