"""CRM decisions per customer: send times, personal caps, multi-arm tests (issue 16)."""
