from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from dagster_project.lib.segments.config import PreferenceConfig
from dagster_project.lib.segments.preference import (
    dirichlet_multinomial_strength,
    preference_index,
)

SEED = PreferenceConfig(method="seed")


def test_seed_index_matches_a_hand_computed_example() -> None:
    # A (20s, F) bought x twice; B (30s, M) bought y once. Two age bands, two genders.
    purchases = pl.DataFrame({"customer_id": ["A", "A", "B"], "category_l1": ["x", "x", "y"]})
    customers = pl.DataFrame(
        {"customer_id": ["A", "B"], "age_band": ["20s", "30s"], "gender": ["F", "M"]}
    )
    out = preference_index(purchases, customers, ["x", "y"], SEED)

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


def test_seed_gives_customers_without_purchases_or_profile_every_category() -> None:
    purchases = pl.DataFrame({"customer_id": ["A"], "category_l1": ["x"]})
    customers = pl.DataFrame(
        {"customer_id": ["A", "Z"], "age_band": ["20s", None], "gender": ["F", None]}
    )
    out = preference_index(purchases, customers, ["x", "y", "z"], SEED)
    z = out.filter(pl.col("customer_id") == "Z")
    assert z.height == 3
    assert z["posterior"].sum() == pytest.approx(1.0)
    assert sorted(z["rank"].to_list()) == [1, 2, 3]
    assert out["preference_index"].max() == pytest.approx(100.0)
    assert out["preference_index"].min() > 0


def _dirichlet_world(n: int, strength: float, means: list[float], lines: int, seed: int):
    """Customers whose true category shares are drawn from Dirichlet(strength x means), each
    with `lines` purchased lines drawn from their shares."""
    rng = np.random.default_rng(seed)
    cats = [f"c{k}" for k in range(len(means))]
    shares = rng.dirichlet(strength * np.asarray(means), size=n)
    counts = np.stack([rng.multinomial(lines, p) for p in shares])
    ids = [f"K{i:05d}" for i in range(n)]
    rows = pl.DataFrame({"customer_id": ids, "n": counts.tolist()}).with_columns(
        category_l1=pl.lit(cats)
    )
    purchases = (
        rows.explode("n", "category_l1")
        .with_columns(pl.int_ranges(0, pl.col("n")).alias("line"))
        .explode("line")
        .drop_nulls("line")
        .select("customer_id", "category_l1")
    )
    customers = pl.DataFrame({"customer_id": ids, "age_band": "30s", "gender": "F"})
    return purchases, customers, cats, shares, counts


def test_dirichlet_multinomial_strength_recovers_the_planted_strength() -> None:
    _, _, _, _, counts = _dirichlet_world(3000, 4.0, [0.4, 0.3, 0.2, 0.1], 6, seed=1)
    means = np.broadcast_to([0.4, 0.3, 0.2, 0.1], counts.shape)
    assert dirichlet_multinomial_strength(counts, means) == pytest.approx(4.0, rel=0.15)
    # Less spread among customers, a stronger prior.
    _, _, _, _, tight = _dirichlet_world(3000, 40.0, [0.4, 0.3, 0.2, 0.1], 20, seed=2)
    assert dirichlet_multinomial_strength(tight, means) == pytest.approx(40.0, rel=0.15)


def test_bayes_credible_intervals_cover_the_true_shares_at_their_level() -> None:
    # 90 % intervals on 2,000 customers x 4 categories: about 90 % hold the customer's true share.
    purchases, customers, cats, shares, _ = _dirichlet_world(2000, 3.0, [0.4, 0.3, 0.2, 0.1], 3, 3)
    out = preference_index(purchases, customers, cats, PreferenceConfig(prior="population"))
    truth = pl.DataFrame(
        {
            "customer_id": np.repeat(customers["customer_id"].to_numpy(), len(cats)),
            "category_l1": cats * customers.height,
            "true_share": shares.ravel(),
        }
    )
    got = out.join(truth, on=["customer_id", "category_l1"])
    covered = got.select(
        pl.col("true_share").is_between(pl.col("posterior_low"), pl.col("posterior_high")).mean()
    ).item()
    assert 0.87 <= covered <= 0.93, covered
    assert (got["posterior_low"] <= got["posterior"]).all()
    assert (got["posterior"] <= got["posterior_high"]).all()
    sums = out.group_by("customer_id").agg(pl.col("posterior").sum())["posterior"]
    assert (sums - 1).abs().max() < 1e-12
    assert (out["preference_index"] - 100 * out["posterior"]).abs().max() < 1e-9


def test_bayes_leans_on_the_cell_prior_without_purchases_and_on_purchases_with_them() -> None:
    # Women buy mostly x, men mostly y. A woman without purchases gets x first; a man who bought
    # z five times gets z first, its interval higher than that of a man who bought it once.
    rows = [(f"W{i}", "x") for i in range(20) for _ in range(2)] + [("W0", "y")]
    rows += [(f"M{i}", "y") for i in range(20) for _ in range(2)] + [("M1", "x")]
    rows += [("MZ5", "z")] * 5 + [("MZ1", "z")]
    purchases = pl.DataFrame(rows, schema=["customer_id", "category_l1"], orient="row")
    ids = sorted({r[0] for r in rows} | {"W_new", "M_new"})
    customers = pl.DataFrame({"customer_id": ids, "age_band": "30s", "gender": [i[0] for i in ids]})
    out = preference_index(purchases, customers, ["x", "y", "z"])
    top = {
        r["customer_id"]: r["category_l1"]
        for r in out.filter(pl.col("rank") == 1).iter_rows(named=True)
    }
    assert (top["W_new"], top["M_new"], top["MZ5"]) == ("x", "y", "z")
    z = out.filter(pl.col("category_l1") == "z").sort("customer_id")
    low = dict(zip(z["customer_id"], z["posterior_low"], strict=True))
    share = dict(zip(z["customer_id"], z["posterior"], strict=True))
    assert share["MZ5"] > share["MZ1"] > share["M_new"]
    assert low["MZ5"] > low["MZ1"] > low["M_new"]
    # Views count at view_weight: ten views of z move a new man's z share up.
    views = pl.DataFrame({"customer_id": ["M_new"] * 10, "category_l1": ["z"] * 10})
    with_views = preference_index(purchases, customers, ["x", "y", "z"], views=views)
    new_z = with_views.filter(pl.col("customer_id") == "M_new", pl.col("category_l1") == "z")
    assert new_z["posterior"].item() > share["M_new"] and new_z["views"].item() == 10


def test_unknown_method_or_bad_setting_is_an_error() -> None:
    purchases = pl.DataFrame({"customer_id": ["A"], "category_l1": ["x"]})
    customers = pl.DataFrame({"customer_id": ["A"], "age_band": ["20s"], "gender": ["F"]})
    with pytest.raises(ValueError, match="preference.method must be one of"):
        preference_index(purchases, customers, ["x"], PreferenceConfig(method="magic"))
    with pytest.raises(ValueError, match="preference.prior must be one of"):
        preference_index(purchases, customers, ["x"], PreferenceConfig(prior="region"))
    with pytest.raises(ValueError, match="credible_level must be in"):
        preference_index(purchases, customers, ["x"], PreferenceConfig(credible_level=95))
