from __future__ import annotations

from datetime import date, timedelta

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


def _one_order_each(recency_days: list[int], amounts: list[float] | None = None) -> pl.DataFrame:
    """Totals for customers C0, C1, ... with one order each, `recency_days` before AS_OF."""
    amounts = amounts or [10_000.0] * len(recency_days)
    rows = [
        (f"C{i}", (AS_OF - timedelta(days=d)).isoformat(), a)
        for i, (d, a) in enumerate(zip(recency_days, amounts, strict=True))
    ]
    ids = [r[0] for r in rows]
    return rfm.customer_order_totals(_orders(rows), _customers(ids), AS_OF)


def _repeat_orders(counts: list[int], amount: float = 10_000.0) -> pl.DataFrame:
    """Totals for customers C0, C1, ... with `counts[i]` orders on the same day, each `amount`."""
    rows = [(f"C{i}", "2025-10-30", amount) for i, n in enumerate(counts) for _ in range(n)]
    ids = [f"C{i}" for i in range(len(counts))]
    return rfm.customer_order_totals(_orders(rows), _customers(ids), AS_OF)


def test_recency_quintiles_more_recent_scores_higher() -> None:
    # Ten buyers, 1 to 10 days since their order: two per quintile, the most recent two get 5.
    out = rfm.rfm_segments(_one_order_each(list(range(1, 11))))
    assert out.sort("recency_days")["r_score"].to_list() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    # Reversing the row order changes nothing.
    shuffled = _one_order_each(list(range(10, 0, -1)))
    assert rfm.rfm_segments(shuffled).sort("recency_days")["r_score"].to_list() == [
        5,
        5,
        4,
        4,
        3,
        3,
        2,
        2,
        1,
        1,
    ]


def test_frequency_and_monetary_quintiles() -> None:
    out = rfm.rfm_segments(_repeat_orders(list(range(1, 11)))).sort("orders")
    assert out["f_score"].to_list() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # Every order is 10,000 KRW, so revenue ranks like orders: M follows F.
    assert out["m_score"].to_list() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    spend = [50_000.0, 10_000.0, 90_000.0, 30_000.0, 70_000.0]
    money = rfm.rfm_segments(_one_order_each([3] * 5, spend)).sort("revenue_krw")
    assert money["revenue_krw"].to_list() == [10_000.0, 30_000.0, 50_000.0, 70_000.0, 90_000.0]
    assert money["m_score"].to_list() == [1, 2, 3, 4, 5]
    # All five ordered on the same day: a five-way tie, all at the lowest recency score.
    assert money["r_score"].to_list() == [1, 1, 1, 1, 1]


def test_ties_share_the_lower_score() -> None:
    # Orders 1, 1, 1, 2, 3 rank (min) 1, 1, 1, 4, 5 of 5: the three singles share F = 1.
    freq = rfm.rfm_segments(_repeat_orders([1, 1, 1, 2, 3])).sort("customer_id")
    assert freq["f_score"].to_list() == [1, 1, 1, 4, 5]
    # Recency 5, 5, 10, 20, 20 days: the two most recent share 4 (not 5), the two oldest 1.
    rec = rfm.rfm_segments(_one_order_each([5, 5, 10, 20, 20])).sort("customer_id")
    assert rec["r_score"].to_list() == [4, 4, 3, 1, 1]


def test_scores_combine_into_the_cell_code_and_fm_rounds_half_up() -> None:
    # C0: most recent, most orders, most money; C4: the opposite (quintiles of five buyers).
    rows = [("C0", f"2025-10-{d:02d}", 50_000.0) for d in (26, 28, 30)]
    rows += [("C1", "2025-10-20", 30_000.0), ("C1", "2025-10-29", 30_000.0)]
    rows += [("C2", "2025-10-15", 55_000.0)]
    rows += [("C3", "2025-10-10", 20_000.0)]
    rows += [("C4", "2025-09-01", 5_000.0)]
    totals = rfm.customer_order_totals(
        _orders(rows), _customers([f"C{i}" for i in range(5)]), AS_OF
    )
    out = rfm.rfm_segments(totals).sort("customer_id")
    # Recency days 1, 2, 16, 21, 60; orders 3, 2, 1, 1, 1; revenue 150k, 60k, 55k, 20k, 5k.
    assert out["rfm_cell"].to_list() == ["555", "444", "313", "212", "111"]
    # FM = round-half-up mean of F and M: (5+5)/2 = 5, (4+4)/2 = 4, (1+3)/2 = 2, ...
    assert out["fm_score"].to_list() == [5, 4, 2, 2, 1]
    assert out["rfm_segment"].to_list() == [
        "champions",
        "loyal",
        "about_to_sleep",
        "hibernating",
        "hibernating",
    ]


# (R, F, M) -> segment, from the map in docs/segments.md; FM = round-half-up mean of F and M.
CELLS = {
    (5, 5, 5): "champions",
    (5, 4, 5): "champions",  # FM 5
    (5, 3, 4): "champions",  # FM 4
    (4, 5, 5): "loyal",
    (3, 4, 4): "loyal",
    (4, 3, 5): "loyal",  # FM 4
    (1, 5, 5): "cant_lose",
    (2, 4, 5): "cant_lose",  # FM 5
    (1, 3, 3): "at_risk",
    (2, 4, 4): "at_risk",
    (1, 2, 4): "at_risk",  # FM 3
    (1, 1, 1): "hibernating",
    (2, 1, 2): "hibernating",  # FM 2
    (2, 2, 1): "hibernating",
    (3, 3, 3): "need_attention",
    (3, 2, 4): "need_attention",  # FM 3
    (3, 1, 1): "about_to_sleep",
    (3, 2, 2): "about_to_sleep",
    (4, 3, 3): "potential_loyalist",
    (5, 2, 2): "potential_loyalist",
    (5, 1, 2): "potential_loyalist",  # FM 2
    (4, 3, 2): "potential_loyalist",  # FM 3
    (4, 1, 1): "promising",
    (5, 1, 1): "new",
}
# With these bounds a customer's scores are known by construction: recency 5 within 10 days,
# 4 within 20, ...; F = the number of orders (1-5); M = 1 under 20,000 KRW, 2 from 20,000, ...
CELL_BOUNDS = RfmConfig(
    recency_days=(10, 20, 30, 40),
    frequency_orders=(2, 3, 4, 5),
    monetary_krw=(20_000, 30_000, 40_000, 50_000),
)


def test_named_segments_of_known_cells() -> None:
    rows, ids = [], []
    for n, (r, f, m) in enumerate(CELLS):
        cid = f"C{n:02d}"
        ids.append(cid)
        last = AS_OF - timedelta(days=5 + 10 * (5 - r))  # 5, 15, 25, 35, 45 days
        revenue = 10_000.0 * (m + 0.5)  # 15k, 25k, ... 55k: inside M's band
        rows += [(cid, last.isoformat(), revenue / f)] * f
    totals = rfm.customer_order_totals(_orders(rows), _customers(ids), AS_OF)
    out = rfm.rfm_segments(totals, CELL_BOUNDS).sort("customer_id")
    assert out["rfm_cell"].to_list() == [f"{r}{f}{m}" for r, f, m in CELLS]
    assert out["rfm_segment"].to_list() == list(CELLS.values())
    assert set(CELLS.values()) == set(rfm.SEGMENT_ORDER)


def test_first_matching_segment_wins_in_a_custom_map() -> None:
    overlapping = RfmConfig(
        recency_days=CELL_BOUNDS.recency_days,
        frequency_orders=CELL_BOUNDS.frequency_orders,
        monetary_krw=CELL_BOUNDS.monetary_krw,
        segments=(("vip", (5, 5), (5, 5)), ("everyone", (1, 5), (1, 5))),
    )
    rows = [("A", "2025-10-30", 11_000.0)] * 5 + [("B", "2025-08-01", 5_000.0)]
    totals = rfm.customer_order_totals(_orders(rows), _customers(["A", "B"]), AS_OF)
    out = rfm.rfm_segments(totals, overlapping).sort("customer_id")
    assert out["rfm_cell"].to_list() == ["555", "111"]
    assert out["rfm_segment"].to_list() == ["vip", "everyone"]
