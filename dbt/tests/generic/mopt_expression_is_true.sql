{# Every row satisfies a SQL expression (dbt_utils-style, kept here: `dbt deps` needs the hub). #}
{% test mopt_expression_is_true(model, expression) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{% endtest %}
