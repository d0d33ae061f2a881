{#
  fct_touchpoint_journeys' window runs (docs/scale-out.md#daily-partitions-and-incremental-models).

  A journey row depends on the customer's first order at or after it: once that order is known
  the row never changes. So for a window run only the "tail" changes: for each customer with a
  touch, visit or order in the window, the rows after their last order dated before the window
  (all their rows when there is none). The pre-hook deletes those rows, the model inserts them
  again, computed from silver (which the window run has already brought up to date).
#}

{#- One row per customer active in the window, with cutoff_at: their last order before the
    window (null: none, every row of theirs is in the tail). -#}
{% macro journey_tail_cutoffs() %}
    {%- set w = date_window() -%}
    {%- set first = date_literal(w['start']) -%}
    {%- set last = date_literal(w['end']) -%}
    select a.customer_id, max(o.ordered_at) as cutoff_at
    from (
        select customer_id from {{ ref('int_touches__conformed') }}
        where touch_date >= {{ first }} and touch_date <= {{ last }}
        union
        select customer_id from {{ ref('int_sessions__attributed') }}
        where has_utm and session_date >= {{ first }} and session_date <= {{ last }}
        union
        select customer_id from {{ ref('int_orders__enriched') }}
        where order_date >= {{ first }} and order_date <= {{ last }}
    ) as a
    left join {{ ref('int_orders__enriched') }} as o
        on o.customer_id = a.customer_id and o.order_date < {{ first }}
    group by a.customer_id
{%- endmacro %}


{#- Keeps the rows of a silver relation (alias t) in the tail: `ts` after the customer's cutoff. -#}
{% macro journey_tail_join(ts) -%}
    inner join cutoffs as c
        on c.customer_id = t.customer_id
        and (c.cutoff_at is null or {{ ts }} > c.cutoff_at)
{%- endmacro %}


{#- The pre-hook: in a window run, delete the tail rows the model inserts again. -#}
{% macro journey_tail_delete() %}
    {%- if window_active() -%}
    delete from {{ this }} as t
    using ({{ journey_tail_cutoffs() }}) as c
    where c.customer_id = t.customer_id
        and (c.cutoff_at is null or t.touched_at > c.cutoff_at)
    {%- endif -%}
{% endmacro %}
