{{ contract_clean('orders') }}
