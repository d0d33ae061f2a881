{{ contract_clean('customers') }}
