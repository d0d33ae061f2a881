"""Two small worlds materialized through the same Definitions the UI loads (as the end-to-end
tests do): the simulated marketplace with every table, and an orders-only export of another
world. Each is built once per session, with its read copy published as after `mopt
materialize`."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.lib.settings import Settings
from dagster_project.lib.simulate import WorldConfig, simulate, write_world
from dagster_project.lib.warehouse import publish_read_copy
from tests.models.conftest import settings_for
from tests.test_end_to_end import materialize_everything


def _materialized(root: Path) -> Settings:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOPT_PROFILE", "embedded")
        result = materialize_everything(root, root / "raw", mp)
    assert result.success
    publish_read_copy(root / "warehouse.duckdb")
    return settings_for(root, root)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """1,000 customers x 120 days (the end-to-end test's world), every asset materialized."""
    root = tmp_path_factory.mktemp("profile_world")
    write_world(simulate(WorldConfig(customers=1000, days=120, seed=7)), root / "raw")
    return _materialized(root)


@pytest.fixture(scope="session")
def orders_only(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Only orders.csv (customer_id, ordered_at, order_amount): the end-to-end test's export."""
    root = tmp_path_factory.mktemp("profile_orders_only")
    (root / "raw").mkdir()
    orders = simulate(WorldConfig(customers=1000, days=150, seed=4)).tables["orders"]
    orders.select("customer_id", "ordered_at", "order_amount").write_csv(root / "raw/orders.csv")
    return _materialized(root)
