{{ contract_clean('events') }}
