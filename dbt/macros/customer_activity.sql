{#
  The customer activity summed per day into running totals (silver.int_customer_days__running,
  as total_<measure>) and read back as windowed features (gold feat_customer__daily): measure ->
  SQL type, which the running totals keep.
#}
{% macro customer_summed_measures() %}
    {{ return({
        'sessions': 'integer', 'page_views': 'integer', 'searches': 'integer',
        'session_minutes': 'double', 'app_sessions': 'integer', 'product_views': 'integer',
        'bookmarks': 'integer', 'add_to_carts': 'integer', 'orders': 'integer', 'revenue': 'double',
        'coupon_orders': 'integer', 'purchased_units': 'integer',
        'purchased_amount': 'double', 'viewed_price_sum': 'double', 'priced_views': 'integer',
        'category_interactions': 'integer',
    }) }}
{% endmacro %}
