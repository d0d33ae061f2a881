"""Benchmarks, one module per suite, each run by `mopt bench <suite>`: foundation (simulate,
ingest, dbt build), demo (`mopt demo` end to end), features (Feast), models, segments and
attribution. Each writes bench/out/<suite>.json and its `bench:<suite>` block of
docs/benchmarks.md through `common.publish`."""
