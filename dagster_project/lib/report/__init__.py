"""The marketing report: static HTML pages (one per area, charts inline so each page can be
sent on its own) from the warehouse and the model registry. `mopt report --out DIR` and the
gold/marketing_report asset write it."""
