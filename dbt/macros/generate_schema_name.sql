{# Schemas are literally bronze, silver, gold (not <target>_bronze), so asset keys are [layer, model]. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
