{{ contract_clean('lift_study_ghost_impressions') }}
