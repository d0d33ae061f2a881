"""Fixtures for the dbt silver and gold layers: warehouses built from raw files with the real
ingestion and the real `dbt build`, each in its own DuckDB file and dbt target folder (so builds can
run side by side and never touch the project's own target/). A build takes ~25 s, so the two base
warehouses are built once per session, concurrently."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from dagster_project.lib.simulate import WorldConfig, simulate, write_world
from tests.conftest import DbtRun, build_warehouse

# A small world whose days are all in the past, with every table filled (price drops on, so the
# optional product_prices table is too).
WORLD = WorldConfig(
    customers=150, days=40, seed=3, start_date=date(2025, 3, 1), price_drop_share=0.2
)
# An export with nothing but orders, and only the three required columns. K1's orders are placed
# around a business-date boundary (Asia/Seoul): 2025-03-16T00:30+09:00 is 2025-03-15 15:30 UTC but
# business date 2025-03-16.
ORDERS_ONLY_CSV = """customer_id,ordered_at,order_amount
K1,2025-03-01T10:00:00+09:00,10000
K1,2025-03-15T23:30:00+09:00,20000
K1,2025-03-16T00:30:00+09:00,30000
K1,2025-04-10T12:00:00+09:00,40000
K2,2025-04-20T09:00:00+09:00,5000
K2,2025-04-20T09:00:00+09:00,5000
"""


@pytest.fixture(scope="session")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DbtRun]:
    """'world': a full simulated world; 'orders_only': ORDERS_ONLY_CSV alone. Built concurrently."""
    root = tmp_path_factory.mktemp("dbt_warehouses")
    world_raw = root / "world_raw"
    write_world(simulate(WORLD), world_raw)
    orders_raw = root / "orders_only_raw"
    orders_raw.mkdir()
    (orders_raw / "orders.csv").write_text(ORDERS_ONLY_CSV)
    with ThreadPoolExecutor(max_workers=2) as pool:
        world = pool.submit(build_warehouse, world_raw, root / "world.duckdb")
        orders_only = pool.submit(build_warehouse, orders_raw, root / "orders_only.duckdb")
        return {"world": world.result(), "orders_only": orders_only.result()}


@pytest.fixture(scope="session")
def world(warehouses: dict[str, DbtRun]) -> DbtRun:
    return warehouses["world"]


@pytest.fixture(scope="session")
def orders_only(warehouses: dict[str, DbtRun]) -> DbtRun:
    return warehouses["orders_only"]
