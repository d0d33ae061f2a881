{{ contract_clean('product_prices') }}
