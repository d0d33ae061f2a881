"""The date window a partitioned dbt run passes (lib/date_window.py) and the warehouse write lock
two runs take turns on (lib/warehouse.py)."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import pytest

from dagster_project.lib.date_window import DateWindow, date_window, dbt_window_env
from dagster_project.lib.warehouse import WarehouseBusy, write_lock

ALL = ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"]


def test_one_day_a_range_and_every_partition() -> None:
    assert date_window(["2025-03-02"], ALL) == DateWindow(date(2025, 3, 2), date(2025, 3, 2))
    window = date_window(["2025-03-03", "2025-03-02"], ALL)
    assert window.dbt_vars() == {"start_date": "2025-03-02", "end_date": "2025-03-03"}
    assert window.describe() == "2025-03-02..2025-03-03"
    # what Dagster passes dbt: environment variables (a changed --vars re-parses the project)
    assert dbt_window_env(window) == {
        "MOPT_DBT_START_DATE": "2025-03-02",
        "MOPT_DBT_END_DATE": "2025-03-03",
    }
    # no window: emptied, so a variable left in the shell cannot turn a full build into a day
    assert dbt_window_env(None) == {"MOPT_DBT_START_DATE": "", "MOPT_DBT_END_DATE": ""}
    # every partition: no window, the daily models build every date
    assert date_window(ALL, ALL) is None
    with pytest.raises(ValueError, match="at least one partition"):
        date_window([], ALL)


def test_a_second_writer_waits_for_the_first(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    order: list[str] = []
    first_holds = threading.Event()

    def first() -> None:
        with write_lock(path):
            first_holds.set()
            time.sleep(0.5)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    first_holds.wait()
    with write_lock(path, wait_s=10):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]
    # and gives up, naming the lock, when the wait runs out
    with (
        write_lock(path),
        pytest.raises(WarehouseBusy, match="warehouse.duckdb.lock"),
        write_lock(path, wait_s=0.3),
    ):
        pass
