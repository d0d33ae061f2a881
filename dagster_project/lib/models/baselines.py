"""Baselines the models must beat, over columns both feature paths have (Feast's
``customer_behaviour`` view and the orders-only features of ``orders_features``):
``days_since_last_order`` (null: never ordered), ``orders_to_date``, ``avg_order_value_krw`` and
``revenue_90d_krw``.

- purchase: recency only (the more recent the last order, the higher), and an RFM score
  (R + F + M, each 0-3);
- value: past spend scaled to the horizon (the last 90 days' spend x H / 90), and the mean spend in
  the horizon of the customer's RFM cell in the training rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dagster_project.lib.models.ziln import QUANTILES

RECENCY = "days_since_last_order"
FREQUENCY = "orders_to_date"
MONETARY = "avg_order_value_krw"
PAST_SPEND = "revenue_90d_krw"
PAST_SPEND_DAYS = 90
BASELINE_COLUMNS = (RECENCY, FREQUENCY, MONETARY, PAST_SPEND)


def recency_score(frame: pl.DataFrame) -> np.ndarray:
    """Minus the days since the last order; customers who never ordered rank last."""
    return (-frame[RECENCY].cast(pl.Float64)).fill_null(-1e9).to_numpy()


def past_spend_scaled(frame: pl.DataFrame, horizon_days: int) -> np.ndarray:
    return (
        frame[PAST_SPEND].cast(pl.Float64).fill_null(0.0) * horizon_days / PAST_SPEND_DAYS
    ).to_numpy()


@dataclass
class RfmBaseline:
    """RFM cells with cut points from the training buyers: R and M are tertiles (3 = most recent,
    highest order value), F is orders to date capped at 3; a customer who never ordered is cell
    (0, 0, 0). The purchase score is R + F + M; the value prediction is the cell's mean spend in
    the horizon over the training rows (the overall mean for a cell training never saw).

    Served in place of a model that has not passed its checks (``serve``): each customer gets
    their cell's buy rate and mean spend, and the 10/50/90 % quantiles of the cell's spend."""

    recency_cuts: list[float]
    monetary_cuts: list[float]
    cell_stats: pl.DataFrame
    """One row per (r, f, m) cell of the training rows: the ``CELL_STATS`` columns."""
    overall: dict[str, float]
    """The same statistics over all training rows, for a cell training never saw."""

    @staticmethod
    def _cells(frame: pl.DataFrame, recency_cuts: list[float], monetary_cuts: list[float]):
        recency = pl.col(RECENCY).cast(pl.Float64)
        monetary = pl.col(MONETARY).cast(pl.Float64)
        bought = pl.col(FREQUENCY).fill_null(0) > 0
        return frame.select(
            pl.when(bought)
            .then(3 - (recency > recency_cuts[0]).cast(pl.Int32) - (recency > recency_cuts[1]))
            .otherwise(0)
            .alias("r"),
            pl.col(FREQUENCY).fill_null(0).clip(0, 3).cast(pl.Int32).alias("f"),
            pl.when(bought)
            .then(1 + (monetary > monetary_cuts[0]).cast(pl.Int32) + (monetary > monetary_cuts[1]))
            .otherwise(0)
            .alias("m"),
        )

    @classmethod
    def fit(
        cls,
        train: pl.DataFrame,
        label_spend: str = "label_spend_krw",
        label_bought: str = "label_bought",
    ) -> RfmBaseline:
        buyers = train.filter(pl.col(FREQUENCY).fill_null(0) > 0)
        if buyers.is_empty():
            recency_cuts, monetary_cuts = [0.0, 0.0], [0.0, 0.0]
        else:
            recency_cuts = [float(buyers[RECENCY].quantile(q)) for q in (1 / 3, 2 / 3)]
            monetary_cuts = [float(buyers[MONETARY].quantile(q)) for q in (1 / 3, 2 / 3)]
        cells = cls._cells(train, recency_cuts, monetary_cuts).with_columns(
            train[label_bought].alias("bought"), train[label_spend].alias("spend")
        )
        stats = [
            pl.col("bought").mean().alias("buy_rate"),
            pl.col("spend").mean().alias("spend"),
            *[pl.col("spend").quantile(q).alias(f"spend_p{round(q * 100)}") for q in QUANTILES],
        ]
        cell_stats = cells.group_by("r", "f", "m").agg(stats)
        overall = cells.select(stats).row(0, named=True)
        return cls(recency_cuts, monetary_cuts, cell_stats, overall)

    def cells(self, frame: pl.DataFrame) -> pl.DataFrame:
        return self._cells(frame, self.recency_cuts, self.monetary_cuts)

    def score(self, frame: pl.DataFrame) -> np.ndarray:
        cells = self.cells(frame)
        return (cells["r"] + cells["f"] + cells["m"]).cast(pl.Float64).to_numpy()

    def _stats(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The cell statistics of each row of ``frame`` (the overall ones for an unseen cell)."""
        return (
            self.cells(frame)
            .join(self.cell_stats, on=["r", "f", "m"], how="left", maintain_order="left")
            .with_columns(pl.col(k).fill_null(v) for k, v in self.overall.items())
        )

    def value(self, frame: pl.DataFrame) -> np.ndarray:
        return self._stats(frame)["spend"].to_numpy()

    def serve(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The score columns a model would give (p_buy, expected value and its quantiles in
        KRW), from the cells: the stand-in served while no model has passed its checks."""
        stats = self._stats(frame)
        return stats.select(
            pl.col("buy_rate").alias("p_buy"),
            pl.col("spend").alias("expected_value_krw"),
            *[
                pl.col(f"spend_p{round(q * 100)}").alias(f"value_p{round(q * 100)}_krw")
                for q in QUANTILES
            ],
        )
