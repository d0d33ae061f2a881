"""Campaigns as configuration: one YAML file per campaign, parsed and checked; segment rules as
Polars expressions over known columns; audiences with consent, night-time consent, frequency
caps and a stable hash holdout; exports for the sending system."""
