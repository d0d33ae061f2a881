"""Uplift: treatment vs holdout measurement of executed campaigns, and a two-model uplift
learner for coupon campaigns evaluated with Qini and uplift-at-k."""
