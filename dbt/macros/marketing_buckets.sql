{#
  Fixed buckets shared by silver and gold, so that a band means the same thing everywhere.
  Price bands follow the simulator's and the marketplace's category medians (19k-79k KRW).
#}

{% macro price_band(amount_krw) -%}
    case
        when {{ amount_krw }} is null then null
        when {{ amount_krw }} < 20000 then 'under_20k'
        when {{ amount_krw }} < 40000 then '20k_40k'
        when {{ amount_krw }} < 70000 then '40k_70k'
        when {{ amount_krw }} < 120000 then '70k_120k'
        else '120k_plus'
    end
{%- endmacro %}


{# Age band (by calendar year of birth) on a given date: the cohorts marketers compare. #}
{% macro age_band(birth_year, on_date) -%}
    case
        when {{ birth_year }} is null then null
        when year({{ on_date }}) - {{ birth_year }} < 20 then 'under_20'
        when year({{ on_date }}) - {{ birth_year }} < 30 then '20s'
        when year({{ on_date }}) - {{ birth_year }} < 40 then '30s'
        when year({{ on_date }}) - {{ birth_year }} < 50 then '40s'
        else '50_plus'
    end
{%- endmacro %}
