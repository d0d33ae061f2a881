{{ contract_clean('campaign_sends') }}
