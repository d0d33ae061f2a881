{#- Every landed row that breaks the contract, with the file, the row and the rules it broke. -#}
{%- for table_name in var('contract_tables') %}
select
    '{{ table_name }}' as table_name,
    checked._source_file as source_file,
    checked._row_number as row_number,
    checked._load_id as load_id,
    {{ list_first('checked._broken_rules') }} as rule,
    {{ list_join('checked._broken_rules', ', ') }} as broken_rules,
    {{ row_to_json('landed') }} as raw_record
from {{ ref('chk_raw__' ~ table_name) }} as checked
inner join {{ source('raw', table_name) }} as landed
    using (_source_file, _row_number)
where {{ list_length('checked._broken_rules') }} > 0
{% if not loop.last %}union all{% endif %}
{%- endfor %}
