"""Hostile campaign files: ids that would leave the exports folder, alias bombs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

from dagster_project.lib.campaigns.audience import Audience
from dagster_project.lib.campaigns.config import CampaignError, load_campaign
from dagster_project.lib.campaigns.export import EXPORT_COLUMNS, write_exports
from tests.campaigns.test_config import VALID


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
