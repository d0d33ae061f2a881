{{ contract_clean('campaigns') }}
