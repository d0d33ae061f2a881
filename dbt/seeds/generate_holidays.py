"""Write kr_holidays.csv: South Korea's public holidays 2015-2030, English names.

The CSV is committed so that `dbt seed` needs no Python. Regenerate it (e.g. after widening the
year range or upgrading the `holidays` package, whose rules change with new government decrees)
from the repository root:

    .venv/bin/python dbt/seeds/generate_holidays.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import holidays

YEARS = range(2015, 2031)
OUT = Path(__file__).with_name("kr_holidays.csv")


def main() -> None:
    kr = holidays.country_holidays("KR", years=YEARS, language="en_US")
    with OUT.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["holiday_date", "holiday_name"])
        for day, name in sorted(kr.items()):
            writer.writerow([day.isoformat(), name])


if __name__ == "__main__":
    main()
