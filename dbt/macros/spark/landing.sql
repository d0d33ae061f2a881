{# Spark's landing schema: one table per contract table over the Parquet files ingestion landed
   (dagster_project/lib/spark_engine.py writes them). #}
{% macro spark_register_landing(landing_dir) %}
    {% do run_query('create database if not exists landing') %}
    {% for table_name in var('contract_tables') %}
        {% do run_query('drop table if exists landing.' ~ table_name) %}
        {% do run_query(
            'create table landing.' ~ table_name ~ " using parquet location '"
            ~ landing_dir ~ '/' ~ table_name ~ "'") %}
    {% endfor %}
{% endmacro %}
