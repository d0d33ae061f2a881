{{ contract_checked('sellers') }}
