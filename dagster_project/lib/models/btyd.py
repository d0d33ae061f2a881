"""The classic buy-till-you-die baseline: BG/NBD (Fader, Hardie and Lee, 2005) for the number of
purchases and Gamma-Gamma for their value, fitted with the `lifetimes` library on orders before a
cutoff. Times are in days; purchases on the same day count as one (the library's convention), and
the monetary value is the mean spend per repeat purchase day."""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from dagster_project.lib.models.orders import DAY_US

FIT_TOLERANCE = 1e-6


def rfm_summary(orders: pl.DataFrame, cutoff: datetime) -> pl.DataFrame:
    """Per customer with an order before ``cutoff``: frequency (repeat purchase days), recency
    (days from the first to the last purchase day), T (days from the first purchase to the
    cutoff) and monetary_value (mean spend of the repeat days; 0 without repeats)."""
    days = (
        orders.filter(pl.col("ordered_at") < cutoff)
        .group_by("customer_id", pl.col("ordered_at").dt.date().alias("day"))
        .agg(pl.col("order_amount_krw").sum().alias("spend"), pl.col("ordered_at").min())
        .sort("customer_id", "day")
    )
    first_day = pl.col("day").min().cast(pl.Datetime("us"))
    return (
        days.group_by("customer_id")
        .agg(
            (pl.len() - 1).cast(pl.Float64).alias("frequency"),
            ((pl.col("day").max() - pl.col("day").min()).dt.total_days())
            .cast(pl.Float64)
            .alias("recency"),
            ((pl.lit(cutoff) - first_day).dt.total_microseconds() / DAY_US).alias("T"),
            pl.when(pl.len() > 1)
            .then((pl.col("spend").sum() - pl.col("spend").first()) / (pl.len() - 1))
            .otherwise(0.0)
            .alias("monetary_value"),
        )
        .sort("customer_id")
    )


@dataclass
class BgNbdGammaGamma:
    params: dict[str, float]
    spend_params: dict[str, float]
    _bgf: object
    _ggf: object
    penalizer: float
    fallback_spend: float = 0.0
    """Spend per purchase where Gamma-Gamma has none: with q <= 1 its population mean (used
    for customers without repeat purchases) is undefined; the repeat buyers' mean instead."""

    @classmethod
    def fit(cls, summary: pl.DataFrame, penalizer: float = 0.001) -> BgNbdGammaGamma:
        """Fit both models; when the optimizer does not converge (few repeat buyers drive the
        dropout parameters a, b to 0), retry with a 10x and 100x stronger L2 penalizer.

        The gradient tolerance is 1e-6, not the library's 1e-7: on a mean log-likelihood near 4,
        1e-7 is at the edge of double precision, so whether BFGS reports success (and which
        penalizer the fit ends on) depended on the CPU's floating-point path."""
        from lifetimes import BetaGeoFitter, GammaGammaFitter
        from lifetimes.utils import ConvergenceError

        frame = summary.to_pandas()
        repeat = frame[(frame["frequency"] > 0) & (frame["monetary_value"] > 0)]
        last_error: Exception | None = None
        for strength in (penalizer, penalizer * 10, penalizer * 100):
            try:
                # lifetimes prints the optimizer's result before raising ConvergenceError.
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")
                    bgf = BetaGeoFitter(penalizer_coef=strength)
                    bgf.fit(frame["frequency"], frame["recency"], frame["T"], tol=FIT_TOLERANCE)
                    ggf = GammaGammaFitter(penalizer_coef=strength)
                    ggf.fit(repeat["frequency"], repeat["monetary_value"], tol=FIT_TOLERANCE)
            except ConvergenceError as err:
                last_error = err
                continue
            return cls(
                {k: float(v) for k, v in bgf.params_.items()},
                {k: float(v) for k, v in ggf.params_.items()},
                bgf,
                ggf,
                strength,
                float(repeat["monetary_value"].mean()) if len(repeat) else 0.0,
            )
        raise ValueError(f"BG/NBD / Gamma-Gamma did not converge: {last_error}")

    def predict(self, summary: pl.DataFrame, horizon_days: float) -> pl.DataFrame:
        """customer_id, expected purchases, P(at least one purchase) and expected spend in the
        ``horizon_days`` after the cutoff. P(buy) = P(alive) x (1 - ((alpha + T) /
        (alpha + T + t))^(r + x)): alive, the posterior rate is Gamma(r + x, alpha + T) and a
        customer dies only right after a purchase."""
        f = summary["frequency"].to_numpy()
        r_ = summary["recency"].to_numpy()
        t_ = summary["T"].to_numpy()
        m = summary["monetary_value"].to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            purchases = np.asarray(
                self._bgf.conditional_expected_number_of_purchases_up_to_time(  # type: ignore[attr-defined]
                    horizon_days, f, r_, t_
                )
            )
            alive = np.asarray(self._bgf.conditional_probability_alive(f, r_, t_))  # type: ignore[attr-defined]
            spend = np.asarray(
                self._ggf.conditional_expected_average_profit(f, m)  # type: ignore[attr-defined]
            )
        spend = np.where(np.isfinite(spend) & (spend > 0), spend, self.fallback_spend)
        purchases = np.where(np.isfinite(purchases), purchases, 0.0)
        r, alpha = self.params["r"], self.params["alpha"]
        p_none_if_alive = ((alpha + t_) / (alpha + t_ + horizon_days)) ** (r + f)
        return summary.select("customer_id").with_columns(
            pl.Series("expected_purchases", purchases),
            pl.Series("p_alive", alive),
            pl.Series("p_buy", alive * (1 - p_none_if_alive)),
            pl.Series("expected_value_krw", purchases * spend),
        )


BGNBD_FEATURES = [
    "bgnbd_expected_purchases",
    "bgnbd_p_alive",
    "bgnbd_p_buy",
    "bgnbd_expected_value_krw",
]


def bgnbd_features(
    orders: pl.DataFrame, cutoffs: list[datetime], horizon_days: float
) -> pl.DataFrame:
    """BG/NBD + Gamma-Gamma predictions as features (customer_id, event_timestamp, ...): one fit
    per cutoff on the orders before it, so a feature never sees its own label window. Trees do
    not extrapolate in time; the fitted BTYD process does (a cohort's activity decays as T grows),
    and the LightGBM model learns how far to trust it."""
    parts = []
    for cutoff in cutoffs:
        summary = rfm_summary(orders, cutoff)
        if summary.height < 10:
            continue
        try:
            predicted = BgNbdGammaGamma.fit(summary).predict(summary, horizon_days)
        except ValueError:
            continue  # too little history at this cutoff: the features stay null
        parts.append(
            predicted.select(
                "customer_id",
                pl.lit(cutoff).cast(pl.Datetime("us")).alias("event_timestamp"),
                pl.col("expected_purchases").alias("bgnbd_expected_purchases"),
                pl.col("p_alive").alias("bgnbd_p_alive"),
                pl.col("p_buy").alias("bgnbd_p_buy"),
                pl.col("expected_value_krw").alias("bgnbd_expected_value_krw"),
            )
        )
    schema = {"customer_id": pl.String, "event_timestamp": pl.Datetime("us")}
    schema |= {name: pl.Float64 for name in BGNBD_FEATURES}
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)
