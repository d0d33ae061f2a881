"""Budget decisions: the policy lab (lab.py) that re-simulates a period under a spend plan or a
coupon targeting policy, response curves fitted on the platform's incremental outcomes
(curves.py), the allocator (allocate.py) and its charts (plots.py)."""
