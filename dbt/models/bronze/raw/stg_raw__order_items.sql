{{ contract_clean('order_items') }}
