{{ contract_clean('sellers') }}
