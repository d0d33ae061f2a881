from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from dagster_project.lib.campaigns.config import (
    CampaignError,
    campaign_files,
    load_campaign,
)
from dagster_project.lib.settings import REPO_ROOT

VALID = """
channel: kakaotalk
send: {time: "19:00"}
holdout_share: 0.15
coupon: {discount_type: fixed, discount_value: 5000, min_order_amount: 30000}
segment: {column: rfm_segment, op: in, value: [at_risk]}
"""


def test_the_sample_campaigns_load() -> None:
    files = campaign_files(REPO_ROOT / "campaigns")
    assert len(files) >= 2
    campaigns = [load_campaign(p) for p in files]
    assert len({c.campaign_id for c in campaigns}) == len(campaigns)


def test_defaults(tmp_path: Path) -> None:
    path = tmp_path / "winback.yml"
    path.write_text(VALID)
    c = load_campaign(path)
    assert c.campaign_id == "winback" and c.channel == "kakaotalk"
    assert (c.max_sends, c.cap_window_days) == (1, 7)
    assert c.send_time == time(19, 0) and c.send_date is None and c.send_at is None
    assert c.coupon.discount_value == 5000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("channel: kakaotalk", "channel: fax"), "channel 'fax' is not one of"),
        (
            ("holdout_share: 0.15", "holdout_share: 1.5"),
            r"holdout_share must be a number in \[0.0, 0.9\]",
        ),
        (('send: {time: "19:00"}', 'send: {at: "2025-10-29T22:30:00"}'), "needs a UTC offset"),
        (('send: {time: "19:00"}', 'send: {time: "7pm"}'), "is not HH:MM"),
        (("holdout_share: 0.15", "holdout_share: 0.15\naudience: all"), "unknown key"),
        (("op: in", "op: contains"), "unknown operator 'contains'"),
        (("discount_type: fixed", "discount_type: free"), "coupon needs discount_type"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, change, message) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(VALID.replace(*change))
    with pytest.raises(CampaignError, match=message) as info:
        load_campaign(path)
    assert str(info.value).startswith(str(path))
