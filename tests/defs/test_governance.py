"""Governance as the Dagster UI sees it: read through Dagster's GraphQL API from a code server
started from deploy/workspace.local.yaml (what `make ui` serves), not from Python objects."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from dagster_project.governance import DAILY_LAYERS, DEFAULT_OWNER, OWNERS
from dagster_project.lib.settings import REPO_ROOT

WORKSPACE = REPO_ROOT / "deploy" / "workspace.local.yaml"
QUERY = """
{
  workspaceOrError { ... on Workspace { locationEntries { name } } }
  assetNodes {
    assetKey { path }
    groupName
    description
    owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
    tags { key value }
    internalFreshnessPolicy {
      ... on CronFreshnessPolicy { deadlineCron lowerBoundDeltaSeconds timezone }
    }
    metadataEntries { label ... on TextMetadataEntry { text } }
    assetChecksOrError { ... on AssetChecks { checks { name description } } }
  }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        location { name }
        jobs { name description }
        schedules { name description }
        sensors { name description }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def graphql() -> dict:
    with (
        dg.instance_for_test() as instance,
        define_out_of_process_context(str(WORKSPACE), None, instance) as context,
    ):
        result = execute_dagster_graphql(context, QUERY)
    assert not result.errors, result.errors
    return result.data


def _assets(graphql: dict) -> dict[str, dict]:
    return {"/".join(a["assetKey"]["path"]): a for a in graphql["assetNodes"]}


def test_the_code_location_is_named_mopt(graphql) -> None:
    assert [e["name"] for e in graphql["workspaceOrError"]["locationEntries"]] == ["mopt"]
    assert [r["location"]["name"] for r in graphql["repositoriesOrError"]["nodes"]] == ["mopt"]


def test_every_asset_has_its_groups_owner_tags_and_a_description(graphql) -> None:
    assets = _assets(graphql)
    assert len(assets) > 60
    for key, node in assets.items():
        teams = [o.get("team") for o in node["owners"]]
        owner = OWNERS.get(node["groupName"], DEFAULT_OWNER)
        assert owner.removeprefix("team:") in teams, key
        tags = {t["key"]: t["value"] for t in node["tags"]}
        assert tags["layer"] == node["groupName"], key
        assert tags["refresh"] == ("weekly" if node["groupName"] == "models" else "daily"), key
        assert node["description"], key


def test_daily_layers_and_the_online_store_must_be_fresh_by_nine(graphql) -> None:
    for key, node in _assets(graphql).items():
        policy = node["internalFreshnessPolicy"]
        if node["groupName"] in DAILY_LAYERS or key == "features/online_store":
            assert policy == {
                "deadlineCron": "0 9 * * *",
                "lowerBoundDeltaSeconds": 3 * 3600,
                "timezone": "Asia/Seoul",
            }, key
        else:
            assert policy is None, key


def test_jobs_schedules_and_sensors_are_described(graphql) -> None:
    (repo,) = graphql["repositoriesOrError"]["nodes"]
    jobs = {j["name"]: j["description"] for j in repo["jobs"] if j["name"] != "__ASSET_JOB"}
    assert set(jobs) >= {"refresh_all_job", "model_retraining_job"}
    for kind in ("schedules", "sensors"):
        assert repo[kind], kind
    for item in [
        *repo["schedules"],
        *repo["sensors"],
        *[{"name": n, "description": d} for n, d in jobs.items()],
    ]:
        assert item["description"], item["name"]
    assert "run_failure_alert_sensor" in {s["name"] for s in repo["sensors"]}


def test_decision_assets_carry_their_checks(graphql) -> None:
    assets = _assets(graphql)

    def checks(key: str) -> set[str]:
        return {c["name"] for c in assets[key]["assetChecksOrError"]["checks"]}

    assert "credit_sums_to_conversions" in checks("gold/attribution_credit")
    assert "roas_spend_reconciles" in checks("gold/attributed_roas")
    assert "every_measurable_campaign_reported" in checks("gold/campaign_uplift")
    assert "qini_above_random" in checks("gold/coupon_uplift_evaluation")


def test_a_campaign_page_shows_the_campaigns_own_name_channel_rule_and_coupon(graphql) -> None:
    node = _assets(graphql)["campaigns/kakao_coupon_at_risk"]
    entries = {e["label"]: e.get("text") for e in node["metadataEntries"]}
    assert entries["campaign_name"] == "At-risk and can't-lose customers, 5,000 KRW coupon"
    assert entries["channel"] == "kakaotalk"
    assert entries["coupon"] == "5,000 KRW off orders from 30,000 KRW"
    assert "segment_rule" in entries
    assert node["description"].startswith("At-risk and can't-lose customers")
