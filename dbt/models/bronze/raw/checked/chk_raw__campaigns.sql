{{ contract_checked('campaigns') }}
