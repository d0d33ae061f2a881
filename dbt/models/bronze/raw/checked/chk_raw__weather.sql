{{ contract_checked('weather') }}
