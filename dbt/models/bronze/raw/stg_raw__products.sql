{{ contract_clean('products') }}
