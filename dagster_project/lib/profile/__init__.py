"""The customer profile: one view per customer for a marketer (who they are, what the models
say, their recent journey, the campaigns they received, product candidates and the strategy the
playbook suggests), gathered from the warehouse (read-only) and Feast's online store.
`mopt profile CUSTOMER_ID [--html FILE]` prints it and writes it as HTML (docs/profile.md)."""
