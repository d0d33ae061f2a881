{# The columns together identify a row (dbt_utils-style, kept here: `dbt deps` needs the hub). #}
{% test mopt_unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by all
having count(*) > 1
{% endtest %}
