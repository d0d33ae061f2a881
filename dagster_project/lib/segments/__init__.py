"""Segments: RFM and the ten named segments, "333" value tiers, behaviour patterns and browsing
types, the category preference index, purchase-probability bands and the p x EV grid."""
