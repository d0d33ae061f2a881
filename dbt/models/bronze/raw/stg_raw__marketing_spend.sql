{{ contract_clean('marketing_spend') }}
