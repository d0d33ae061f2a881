"""Who counts as a buyer: the purchase label and the ZILN spend part agree (a buyer spent more
than 0 KRW in the window), whatever 0-KRW orders the export holds."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from dagster_project.lib.models.orders import label_orders
from dagster_project.lib.models.ziln import BoosterParams, ZilnModel

CUTOFF = datetime(2025, 3, 1)


def orders_frame(rows: list[tuple[str, datetime, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.String,
            "ordered_at": pl.Datetime("us"),
            "order_amount_krw": pl.Float64,
        },
        orient="row",
    )


def test_a_customer_with_only_zero_amount_orders_is_not_a_buyer() -> None:
    orders = orders_frame(
        [
            ("free_only", datetime(2025, 3, 5), 0.0),  # a free replacement
            ("free_only", datetime(2025, 3, 9), 0.0),
            ("paid_and_free", datetime(2025, 3, 2), 0.0),
            ("paid_and_free", datetime(2025, 3, 3), 25_000.0),
            ("paid", datetime(2025, 3, 20), 40_000.0),
            ("paid", datetime(2025, 4, 20), 40_000.0),  # after the 30-day window
        ]
    )
    entities = pl.DataFrame(
        {"customer_id": ["free_only", "paid_and_free", "paid", "none"]}
    ).with_columns(pl.lit(CUTOFF).cast(pl.Datetime("us")).alias("event_timestamp"))
    labels = label_orders(entities, orders, 30)
    got = {
        r["customer_id"]: (r["label_bought"], r["label_orders"], r["label_spend_krw"])
        for r in labels.iter_rows(named=True)
    }
    assert got == {
        "free_only": (0, 0, 0.0),
        "paid_and_free": (1, 1, 25_000.0),
        "paid": (1, 1, 40_000.0),
        "none": (0, 0, 0.0),
    }
    assert (
        labels["label_bought"].to_list() == (labels["label_spend_krw"] > 0).cast(pl.Int8).to_list()
    )


def test_ziln_purchase_part_and_spend_part_see_the_same_buyers() -> None:
    """On labels with many 0-KRW orders, the ZILN purchase part's positives are exactly the rows
    its lognormal spend part fits, so p * E[spend | buyer] is the expected spend: on held-out
    rows the predicted total matches the actual one."""
    rng = np.random.default_rng(0)
    n = 6_000
    x = rng.normal(size=n)
    people = pl.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "x": x,
            "buys": rng.random(n) < 1 / (1 + np.exp(1.5 - x)),
            "spend": np.exp(10 + 0.4 * x + 0.5 * rng.normal(size=n)),
            # a third of all customers also get a free order in the window
            "free": rng.random(n) < 0.3,
        }
    ).with_columns(pl.lit(datetime(2025, 3, 10)).cast(pl.Datetime("us")).alias("ordered_at"))
    orders = pl.concat(
        [
            people.filter("buys").select("customer_id", "ordered_at", order_amount_krw="spend"),
            people.filter("free").select("customer_id", "ordered_at", order_amount_krw=pl.lit(0.0)),
        ]
    )
    entities = people.select("customer_id", "x").with_columns(
        pl.lit(CUTOFF).cast(pl.Datetime("us")).alias("event_timestamp")
    )
    labels = label_orders(entities, orders, 30)
    assert labels["label_bought"].sum() == people["buys"].sum()
    train, valid, test = labels[:3_000], labels[3_000:4_500], labels[4_500:]
    model = ZilnModel.fit(train, valid, ["x"], params=BoosterParams(min_data_in_leaf=100))
    predicted = model.predict(test)
    assert abs(predicted["p_buy"].mean() / test["label_bought"].mean() - 1) < 0.1
    total = predicted["expected_value_krw"].sum() / test["label_spend_krw"].sum()
    assert abs(total - 1) < 0.15
