"""Platform-wide policy, applied once to every asset in definitions.py: who owns each layer, tags
people filter the catalog by, and when the daily layers and the online store must be fresh."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

# The owner of each asset group (the group is the key's first part: the layer or the domain).
OWNERS = {
    "landing": "team:data-platform",
    "reference": "team:data-platform",
    "bronze": "team:data-platform",
    "silver": "team:data-platform",
    "gold": "team:marketing-analytics",
    "features": "team:ml-platform",
    "models": "team:data-science",
    "campaigns": "team:crm",
}
# A group not listed above (a new domain's) still gets an owner, rather than failing every load.
DEFAULT_OWNER = "team:marketing-analytics"
# Retrained weekly (defs/models/schedules.py); everything else is rebuilt by the daily refresh.
WEEKLY_GROUPS = {"models"}
TIMEZONE = "Asia/Seoul"
# The daily refresh starts at 06:00 (defs/schedules.py) and takes minutes at demo size; by 09:00,
# when the team opens the reports, today's build must be there.
DAILY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 9 * * *", lower_bound_delta=timedelta(hours=3), timezone=TIMEZONE
)
DAILY_LAYERS = {"bronze", "silver", "gold"}
ONLINE_STORE_KEY = dg.AssetKey(["features", "online_store"])


def governed(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The asset with its group's owner, `layer` and `refresh` tags, and the daily freshness
    policy where it applies. Tags set by the asset itself (e.g. dbt's) are kept."""
    group = spec.group_name or spec.key.path[0]
    tags = {
        "layer": group,
        "refresh": "weekly" if group in WEEKLY_GROUPS else "daily",
        **spec.tags,
    }
    daily = group in DAILY_LAYERS or spec.key == ONLINE_STORE_KEY
    owner = OWNERS.get(group, DEFAULT_OWNER)
    return spec.replace_attributes(
        owners=[*spec.owners, *([owner] if owner not in spec.owners else [])],
        tags=tags,
        freshness_policy=DAILY_FRESHNESS if daily and spec.freshness_policy is None else ...,
    )
