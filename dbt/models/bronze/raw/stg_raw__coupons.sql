{{ contract_clean('coupons') }}
