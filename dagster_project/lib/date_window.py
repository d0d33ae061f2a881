"""The business-date window a partitioned dbt run builds (dbt/macros/date_window.sql).

A run over some day partitions passes their first and last date to dbt as environment variables
(read at run time, so dbt's partial parse stays valid; `--vars` would re-parse the project); the
models rebuild those dates and the look-back days before them. A run over every partition (the
demo's first build, a backfill of everything) passes none: every date is built, from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

# The environment variables dbt reads the window from (empty: no window, every date).
WINDOW_ENV = ("MOPT_DBT_START_DATE", "MOPT_DBT_END_DATE")


def dbt_window_env(window: DateWindow | None) -> dict[str, str]:
    """The environment for a dbt run over `window` (None: every date, the variables emptied)."""
    return window.dbt_env() if window else dict.fromkeys(WINDOW_ENV, "")


@dataclass(frozen=True)
class DateWindow:
    start: date
    end: date

    def dbt_vars(self) -> dict[str, str]:
        return {"start_date": self.start.isoformat(), "end_date": self.end.isoformat()}

    def dbt_env(self) -> dict[str, str]:
        """The window as dbt/macros/date_window.sql reads it from the environment."""
        return {WINDOW_ENV[0]: self.start.isoformat(), WINDOW_ENV[1]: self.end.isoformat()}

    def describe(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def date_window(keys: Sequence[str], all_keys: Sequence[str]) -> DateWindow | None:
    """The window of the partition keys (ISO dates) a run targets, or None when they cover every
    partition. A window spans from the first key to the last: a backfill of scattered days runs
    once over the range between them (the days between are rebuilt too, which is idempotent)."""
    if not keys:
        raise ValueError("a partitioned dbt run needs at least one partition key")
    days = sorted(date.fromisoformat(k) for k in keys)
    if (
        all_keys
        and days[0] <= date.fromisoformat(min(all_keys))
        and days[-1] >= date.fromisoformat(max(all_keys))
    ):
        return None
    return DateWindow(days[0], days[-1])
