{{ contract_clean('sessions') }}
