{{ contract_checked('customers') }}
