from __future__ import annotations

import dataclasses
from datetime import time
from pathlib import Path

import polars as pl
import pytest

from dagster_project.lib.campaigns.audience import Audience
from dagster_project.lib.campaigns.config import (
    CampaignError,
    campaign_files,
    load_campaign,
)
from dagster_project.lib.campaigns.export import EXPORT_COLUMNS, write_exports
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


def test_a_campaign_id_cannot_leave_the_exports_folder(tmp_path: Path) -> None:
    path = tmp_path / "escape.yml"
    path.write_text('campaign_id: "../../../../../camp/ESCAPED"\n' + VALID)
    with pytest.raises(CampaignError, match="may use only letters, digits"):
        load_campaign(path)


def test_the_export_writer_refuses_a_path_outside_its_folder(tmp_path: Path) -> None:
    """Defence in depth: a Campaign built without the config check still cannot escape."""
    path = tmp_path / "ok.yml"
    path.write_text(VALID)
    campaign = dataclasses.replace(load_campaign(path), campaign_id="../ESCAPED")
    frame = pl.DataFrame({c: ["x"] for c in EXPORT_COLUMNS if c != "campaign_id"}).with_columns(
        campaign_id=pl.lit("../ESCAPED"), is_treatment=pl.lit(True)
    )
    with pytest.raises(ValueError, match="leaves the exports folder"):
        write_exports(Audience(campaign, frame), tmp_path / "exports")
    assert not (tmp_path / "ESCAPED.csv").exists()


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    """A valid rule of nine levels of nine aliases loads as shared references but expands to
    9**8 conditions: parsing it into expressions used to hang `mopt campaign-check`."""
    leaf = '{column: r_score, op: "==", value: 1}'
    levels = ["&a0 {all: [" + ", ".join([leaf] * 9) + "]}"]
    levels += [f"&a{k} {{all: [" + ", ".join([f"*a{k - 1}"] * 9) + "]}" for k in range(1, 9)]
    rule = "segment:\n  all:\n" + "".join(f"    - {level}\n" for level in levels)
    path = tmp_path / "bomb.yml"
    path.write_text(
        VALID.replace("segment: {column: rfm_segment, op: in, value: [at_risk]}\n", rule)
    )
    with pytest.raises(CampaignError, match="expands to more than 100,000 values"):
        load_campaign(path)
