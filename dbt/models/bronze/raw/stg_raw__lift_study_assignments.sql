{{ contract_clean('lift_study_assignments') }}
