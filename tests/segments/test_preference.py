from __future__ import annotations

import math

import polars as pl
import pytest

from dagster_project.lib.segments.preference import preference_index


def test_preference_index_matches_a_hand_computed_example() -> None:
    # A (20s, F) bought x twice; B (30s, M) bought y once. Two age bands, two genders.
    purchases = pl.DataFrame({"customer_id": ["A", "A", "B"], "category_l1": ["x", "x", "y"]})
    customers = pl.DataFrame(
        {"customer_id": ["A", "B"], "age_band": ["20s", "30s"], "gender": ["F", "M"]}
    )
    out = preference_index(purchases, customers, ["x", "y"])

    # Likelihoods, add-one over 2 levels: P(20s|x) = (2+1)/(2+2), P(20s|y) = (0+1)/(1+2), and the
    # same numbers for gender. Priors, add-one over 2 categories: A (3/4, 1/4), B (1/3, 2/3).
    joint = {
        ("A", "x"): 3 / 4 * (3 / 4) * (3 / 4),
        ("A", "y"): 1 / 4 * (1 / 3) * (1 / 3),
        ("B", "x"): 1 / 3 * (1 / 4) * (1 / 4),
        ("B", "y"): 2 / 3 * (2 / 3) * (2 / 3),
    }
    post = {(c, k): v / (joint[(c, "x")] + joint[(c, "y")]) for (c, k), v in joint.items()}
    logs = {key: math.log(p) for key, p in post.items()}
    low = min(logs.values())
    shifted = {key: v - low + 1 for key, v in logs.items()}
    top = max(shifted.values())
    expected = {key: 100 * v / top for key, v in shifted.items()}
    # Worked out: A/x 100, A/y 26.88, B/x 28.53, B/y 99.89.
    assert expected[("A", "y")] == pytest.approx(26.878, abs=1e-3)

    got = {(r["customer_id"], r["category_l1"]): r for r in out.iter_rows(named=True)}
    for key in joint:
        assert got[key]["posterior"] == pytest.approx(post[key], rel=1e-12)
        assert got[key]["preference_index"] == pytest.approx(expected[key], rel=1e-12)
    assert got[("A", "x")]["rank"] == 1 and got[("B", "y")]["rank"] == 1


def test_customers_without_purchases_or_profile_still_get_every_category() -> None:
    purchases = pl.DataFrame({"customer_id": ["A"], "category_l1": ["x"]})
    customers = pl.DataFrame(
        {"customer_id": ["A", "Z"], "age_band": ["20s", None], "gender": ["F", None]}
    )
    out = preference_index(purchases, customers, ["x", "y", "z"])
    z = out.filter(pl.col("customer_id") == "Z")
    assert z.height == 3
    assert z["posterior"].sum() == pytest.approx(1.0)
    assert sorted(z["rank"].to_list()) == [1, 2, 3]
    assert out["preference_index"].max() == pytest.approx(100.0)
    assert out["preference_index"].min() > 0
