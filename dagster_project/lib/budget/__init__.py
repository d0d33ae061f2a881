"""Budget decisions: the policy lab (lab.py) that re-simulates a period under a spend plan or a
coupon targeting policy, response curves fitted from the platform's data and the allocator."""
