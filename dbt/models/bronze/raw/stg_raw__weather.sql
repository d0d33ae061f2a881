{{ contract_clean('weather') }}
