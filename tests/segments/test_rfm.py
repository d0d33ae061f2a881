from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dagster_project.lib.segments import rfm
from dagster_project.lib.segments.config import (
    DEFAULT_SEGMENT_MAP,
    RfmConfig,
    load_segment_config,
)

AS_OF = date(2025, 10, 31)


def _orders(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_date": [date.fromisoformat(r[1]) for r in rows],
            "order_amount_krw": [r[2] for r in rows],
        }
    )


def _customers(ids: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": ids})


def test_segment_map_covers_every_cell_with_the_ten_segments() -> None:
    names = set()
    for r in range(1, 6):
        for fm in range(1, 6):
            hits = [
                n
                for n, (r0, r1), (f0, f1) in DEFAULT_SEGMENT_MAP
                if r0 <= r <= r1 and f0 <= fm <= f1
            ]
            assert hits, (r, fm)
            names.add(hits[0])
    assert names == set(rfm.SEGMENT_ORDER)


def test_equal_values_share_a_score_and_non_buyers_get_no_purchase() -> None:
    # Six single-order customers, four repeat buyers, one customer without orders.
    rows = [(f"S{i}", "2025-10-01", 10_000.0) for i in range(6)]
    for i, n in enumerate([2, 3, 4, 5]):
        rows += [(f"R{i}", f"2025-10-0{d + 1}", 10_000.0) for d in range(n)]
    ids = [f"S{i}" for i in range(6)] + [f"R{i}" for i in range(4)] + ["N0"]
    totals = rfm.customer_order_totals(_orders(rows), _customers(ids), AS_OF)
    out = rfm.rfm_segments(totals)
    singles = out.filter(pl.col("customer_id").str.starts_with("S"))
    assert singles["f_score"].unique().to_list() == [1]
    repeat = out.filter(pl.col("customer_id").str.starts_with("R")).sort("orders")
    assert repeat["f_score"].to_list() == sorted(repeat["f_score"].to_list())
    assert repeat["f_score"].to_list()[-1] == 5
    none = out.filter(pl.col("customer_id") == "N0").row(0, named=True)
    assert none["rfm_segment"] == "no_purchase" and none["r_score"] is None


def test_explicit_bounds_replace_quintiles() -> None:
    rows = [
        ("A", "2025-10-21", 1.0),
        ("B", "2025-10-01", 1.0),
        ("C", "2025-09-30", 1.0),
        ("D", "2025-04-01", 1.0),
    ]
    totals = rfm.customer_order_totals(_orders(rows), _customers(list("ABCD")), AS_OF)
    cfg = RfmConfig(recency_days=(30, 60, 90, 180), frequency_orders=(2, 3, 5, 10))
    out = rfm.rfm_segments(totals, cfg).sort("customer_id")
    # 10 days -> 5; 30 days (<= 30) -> 5; 31 days -> 4; 213 days -> 1
    assert out["recency_days"].to_list() == [10, 30, 31, 213]
    assert out["r_score"].to_list() == [5, 5, 4, 1]
    assert out["f_score"].to_list() == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="four ascending"):
        rfm.rfm_segments(totals, RfmConfig(recency_days=(60, 30, 90, 180)))


def test_value_tiers_follow_the_333_rules() -> None:
    rows = [
        ("A", "2025-10-01", 600_000.0),
        ("A", "2025-10-10", 500_000.0),  # R3 F3 (9 d) M3: star
        ("B", "2025-05-01", 200_000.0),  # R1 (183 d) F1 M2: butterfly
        ("C", "2025-10-20", 10_000.0),
        ("C", "2025-10-25", 10_000.0),  # R3 F3 M1: engaged low
        ("E", "2025-07-01", 25_000.0),
        ("E", "2025-08-30", 25_000.0),  # R2 (62 d) F2 (60 d) M1
    ]
    totals = rfm.customer_order_totals(_orders(rows), _customers(list("ABCDE")), AS_OF)
    out = rfm.value_tiers(totals).sort("customer_id")
    assert out["value_code"].to_list() == ["333", "112", "331", "111", "221"]
    assert out["value_tier"].to_list() == [
        "star",
        "butterfly",
        "engaged_low_spender",
        "other",
        "other",
    ]
    assert out["repurchase_interval_days"].to_list() == [9.0, None, 5.0, None, 60.0]


def test_config_file_overrides_defaults_and_rejects_unknown_keys(tmp_path) -> None:
    path = tmp_path / "segments.yml"
    path.write_text(
        "rfm:\n  recency_days: [30, 60, 90, 180]\nvalue_tiers:\n  high_value_min_score: 3\n"
    )
    cfg = load_segment_config(path)
    assert cfg.rfm.recency_days == (30, 60, 90, 180)
    assert cfg.value_tiers.high_value_min_score == 3
    assert cfg.value_tiers.repurchase_interval_days == 15
    path.write_text("value_tiers:\n  high_value: 3\n")
    with pytest.raises(ValueError, match=r"segments.yml.value_tiers: unknown setting 'high_value'"):
        load_segment_config(path)
