"""Budget allocation: response curves fitted on incremental outcomes, the allocator, and charts."""
