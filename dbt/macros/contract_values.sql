{# The values the raw contract accepts for a column (models/bronze/raw/__sources.yml), as SQL literals. #}
{% macro contract_accepted_values(table_name, column_name) %}
    {%- if execute -%}
        {%- set column = contract_source(table_name).columns[column_name] -%}
        {%- set values = contract_meta(column).get('accepted') or [] -%}
        {%- set literals = [] -%}
        {%- for v in values %}{% do literals.append("'" ~ v ~ "'") %}{% endfor -%}
        {{ return(literals | join(', ')) }}
    {%- else -%}
        {{ return("''") }}
    {%- endif -%}
{% endmacro %}
