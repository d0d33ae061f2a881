"""The orders-only backtest on real orders: CDNOW (shipped with `lifetimes`), at the benchmark's two
cutoffs with a 90-day horizon, against BG/NBD + Gamma-Gamma and the naive past-spend ranking
fitted on the same orders.

Measured over LightGBM seeds 0-4 (docs/models.md): at 1998-01-01 normalized Gini 0.733-0.734 and
decile MAPE 0.133-0.174 (median 0.156) against BG/NBD's 0.696 and 0.219 and past spend's 0.545 and
0.904. The Gini bar (>= 0.70) is met on every seed; the decile MAPE bar (<= 0.15) on two of five
(the middle deciles' means are 2-5 KRW, so a tenth of a unit moves it by 0.02), so it is not
asserted: the tests assert margins over BG/NBD that every seed clears. At 1997-10-01 (a holiday
quarter the history has never shown) Gini 0.681-0.683 and decile MAPE 0.181-0.212 against BG/NBD's
0.634 and 0.237 (docs/models.md: a model fitted on the test window itself reaches Gini 0.68)."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from dagster_project.lib.bench.models import _orders_contract
from dagster_project.lib.models.backtest import run_backtest
from dagster_project.lib.models.datasets import cdnow_orders

DECILE_MAPE_BAR = 0.15
GINI_BAR = 0.70
# Below the smallest lead over BG/NBD of seeds 0-4 at either cutoff (Gini 0.037, MAPE 0.025).
GINI_MARGIN_OVER_BGNBD = 0.03
DECILE_MAPE_MARGIN_UNDER_BGNBD = 0.02


@pytest.fixture(scope="module")
def cdnow() -> pl.DataFrame:
    return _orders_contract(cdnow_orders())


def _value_metrics(cdnow: pl.DataFrame, cutoff: str) -> dict[str, dict]:
    # The benchmark's settings (lib/bench/models.py::backtest_path).
    result = run_backtest(
        cdnow, datetime.fromisoformat(cutoff), 90, step_days=7, max_train_cutoffs=12
    )
    assert result.evaluation is not None
    return {r["scorer"]: r for r in result.evaluation.value.to_dicts()}


def _beats_bgnbd_by_the_margins(value: dict[str, dict]) -> None:
    model, bgnbd = value["model"], value["bgnbd"]
    assert model["normalized_gini"] >= bgnbd["normalized_gini"] + GINI_MARGIN_OVER_BGNBD, value
    assert model["decile_mape"] <= bgnbd["decile_mape"] - DECILE_MAPE_MARGIN_UNDER_BGNBD, value


@pytest.mark.slow  # one backtest, ~25 s on the shared machine
def test_cdnow_1998_model_meets_the_gini_bar_and_beats_bgnbd_which_fails_both_bars(
    cdnow: pl.DataFrame,
) -> None:
    value = _value_metrics(cdnow, "1998-01-01")
    assert value["model"]["normalized_gini"] >= GINI_BAR, value
    _beats_bgnbd_by_the_margins(value)
    for baseline in ("bgnbd", "past_spend"):
        row = value[baseline]
        assert row["decile_mape"] > DECILE_MAPE_BAR and row["normalized_gini"] < GINI_BAR, value


@pytest.mark.slow  # one backtest, ~25 s on the shared machine
def test_cdnow_1997_model_beats_bgnbd_and_past_spend_on_decile_mape_and_gini(
    cdnow: pl.DataFrame,
) -> None:
    value = _value_metrics(cdnow, "1997-10-01")
    model = value["model"]
    _beats_bgnbd_by_the_margins(value)
    assert model["normalized_gini"] > value["past_spend"]["normalized_gini"], value
    assert model["decile_mape"] < value["past_spend"]["decile_mape"], value
