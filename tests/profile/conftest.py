"""The end-to-end tests' two worlds (tests/conftest.py: every table, and an orders-only export),
each materialized once per session, with its read copy published as after `mopt materialize`."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.lib.settings import Settings
from dagster_project.lib.warehouse import publish_read_copy
from tests.conftest import Platform
from tests.models.conftest import settings_for


def _published(root: Path) -> Settings:
    publish_read_copy(root / "warehouse.duckdb")
    return settings_for(root, root)


@pytest.fixture(scope="session")
def world(tiny_platform: Platform) -> Settings:
    """The end-to-end tests' world (1,000 customers x 120 days), every asset materialized."""
    assert tiny_platform.result.success
    return _published(tiny_platform.data_dir)


@pytest.fixture(scope="session")
def orders_only(orders_only_platform: Platform) -> Settings:
    """The end-to-end tests' orders-only export, every asset materialized."""
    assert orders_only_platform.result.success
    return _published(orders_only_platform.data_dir)
