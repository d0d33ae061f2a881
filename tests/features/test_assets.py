"""The Feast assets through Dagster: apply, then materialize, with their metadata and check."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.features.assets import feature_registry, online_store
from dagster_project.defs.resources import Warehouse


def test_registry_and_online_store_assets(settings) -> None:
    warehouse = Warehouse(
        duckdb_path=str(settings.duckdb_path),
        raw_dir=str(settings.raw_dir),
        features_dir=str(settings.features_dir),
    )
    with dg.DagsterInstance.ephemeral() as instance:
        first = dg.materialize(
            [feature_registry, online_store], resources={"warehouse": warehouse}, instance=instance
        )
        assert first.success
        registry, online = (
            first.asset_materializations_for_node(n)[0].metadata
            for n in ("features__registry", "features__online_store")
        )
        assert registry["feature_view_count"].value == 9  # with the model scores and product axis
        assert registry["registry_changes"].value == 26  # project, 3 entities, 8 sources...
        assert registry["profile"].value == "embedded"
        views = [r.data["feature_view"] for r in registry["feature_views"].records]
        services = [str(r.data) for r in registry["feature_services"].records]
        assert "customer_behaviour" in views
        assert any("purchase_probability_v1" in s for s in services)
        assert (settings.data_dir / "feast" / "registry.db").exists()
        assert (settings.data_dir / "feast" / "feature_store.yaml").exists()

        assert online["dagster/row_count"].value > 300
        assert online["rows_materialized/customer_profile"].value == 300
        assert online["freshness/customer_profile"].value > 0
        sample = online["sample_online_read"].value
        assert sample["customer_id"] and sample["tenure_days"] is not None
        [check] = first.get_asset_check_evaluations()
        assert check.passed, check.metadata

        # Nothing new in the files: the second run writes nothing and the registry is unchanged.
        second = dg.materialize(
            [feature_registry, online_store], resources={"warehouse": warehouse}, instance=instance
        )
        assert second.success
        registry, online = (
            second.asset_materializations_for_node(n)[0].metadata
            for n in ("features__registry", "features__online_store")
        )
        assert registry["registry_changes"].value == 0, registry["registry_diff"].value
        assert online["dagster/row_count"].value == 0
        assert second.get_asset_check_evaluations()[0].passed
