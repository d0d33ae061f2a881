"""Budget allocation as assets."""
