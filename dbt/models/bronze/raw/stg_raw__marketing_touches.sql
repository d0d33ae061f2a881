{{ contract_clean('marketing_touches') }}
