"""credit_reconciliation, behind the credit_sums_to_conversions check: a model that loses or
invents credit is caught, per model and scope."""

from __future__ import annotations

import polars as pl

from dagster_project.lib.attribution.report import credit_reconciliation

JOURNEYS = pl.DataFrame(
    {
        "converted": [True, True, True, False],
        "revenue": [100.0, 50.0, 30.0, 0.0],
        "scope": ["first", "repeat", "repeat", None],
    }
)


def _credit(model: str, scope: str, conversions: list[float], revenue: list[float]):
    return pl.DataFrame(
        {
            "model": model,
            "scope": scope,
            "channel": [f"c{i}" for i in range(len(conversions))],
            "conversions": conversions,
            "revenue": revenue,
        }
    )


def test_credit_that_sums_to_the_converted_journeys_reconciles_and_lost_credit_does_not():
    credit = pl.concat(
        [
            _credit("linear", "all", [1.5, 1.0, 0.5], [90.0, 60.0, 30.0]),
            _credit("linear", "repeat", [1.0, 1.0], [40.0, 40.0]),
            _credit("leaky", "all", [1.5, 1.0], [90.0, 60.0]),  # one conversion lost
            _credit("rich", "first", [1.0], [101.0]),  # revenue invented
        ]
    )
    out = credit_reconciliation(credit, JOURNEYS)
    verdict = {(r["model"], r["scope"]): r["reconciled"] for r in out.iter_rows(named=True)}
    assert verdict == {
        ("leaky", "all"): False,
        ("linear", "all"): True,
        ("linear", "repeat"): True,
        ("rich", "first"): False,
    }
    row = out.filter(model="leaky").row(0, named=True)
    assert (row["credited"], row["converted_journeys"]) == (2.5, 3)
