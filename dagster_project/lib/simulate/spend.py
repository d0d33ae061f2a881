"""Paid spend drives paid reach: the world's flighted budget, adstock and the Hill reach curve.

A paid channel's daily exposure probability is its targeting probability (engine._exposure_prob:
search ads follow visits, retargeting follows views, so the confounding stays) times
``reach_multiplier``, a saturating function of the channel's adstocked daily spend. The world's
own budget is flighted: each channel's weekly spend varies, with some weeks off.
"""

from __future__ import annotations

import numpy as np

from ._rng import Streams
from .params import (
    FLIGHT_OFF,
    FLIGHT_RANGE,
    HILL_HALF,
    HILL_SHAPE,
    PAID_CHANNELS,
    SPEND_ADSTOCK,
    SPEND_PER_1000,
    WorldConfig,
)

WEEK_DAYS = 7


def reference_daily_spend(cfg: WorldConfig) -> np.ndarray:
    """(paid channels,) KRW a day at which each channel's reach is as designed (R = 1)."""
    return np.array([SPEND_PER_1000[c] * cfg.customers / 1000 for c in PAID_CHANNELS])


def world_daily_spend(cfg: WorldConfig, st: Streams) -> np.ndarray:
    """(paid channels, days) the world's own flighted budget, KRW a day: per channel and 7-day
    block from start_date, off (FLIGHT_OFF) or the reference spend x U(FLIGHT_RANGE) / (1 -
    FLIGHT_OFF), rounded to whole KRW per week and spread evenly over its days."""
    weeks = np.arange(-(-cfg.days // WEEK_DAYS))
    ch = np.arange(len(PAID_CHANNELS))[:, None]
    off = st.uniform("flighting", ch, weeks, 0) < FLIGHT_OFF
    lo, hi = FLIGHT_RANGE
    # On-weeks are scaled by 1 / (1 - FLIGHT_OFF) so that the mean spend is the reference.
    on = (lo + (hi - lo) * st.uniform("flighting", ch, weeks, 1)) / (1 - FLIGHT_OFF)
    mult = np.where(off, 0.0, on) if cfg.flighting else np.ones_like(on)
    weekly = np.round(reference_daily_spend(cfg)[:, None] * WEEK_DAYS * mult)
    return np.repeat(weekly / WEEK_DAYS, WEEK_DAYS, axis=1)[:, : cfg.days]


def hill(x: np.ndarray, channel: str) -> np.ndarray:
    """Reach multiplier at adstocked spend ``x`` (in units of the reference spend); 1 at x = 1."""
    k, s = HILL_HALF[channel], HILL_SHAPE[channel]
    xs = np.power(np.maximum(x, 0.0), s)
    return (1 + k**s) * xs / (xs + k**s)


def adstock(daily: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """Geometric adstock over the last axis, a_d = decay a_(d-1) + (1 - decay) x_d, starting at
    the steady state of the first day's spend. ``decay`` broadcasts against daily[..., 0]."""
    out = np.empty_like(daily, dtype=np.float64)
    a = daily[..., 0].astype(np.float64)
    for d in range(daily.shape[-1]):
        a = decay * a + (1 - decay) * daily[..., d]
        out[..., d] = a
    return out


def reach_multiplier(cfg: WorldConfig, daily: np.ndarray) -> np.ndarray:
    """(scenarios, paid channels, days) reach multipliers for daily spend of the same shape."""
    decay = np.array([SPEND_ADSTOCK[c] for c in PAID_CHANNELS])[None, :]
    x = adstock(daily, decay) / reference_daily_spend(cfg)[None, :, None]
    out = np.empty_like(x)
    for k, ch in enumerate(PAID_CHANNELS):
        out[:, k] = hill(x[:, k], ch)
    return out.astype(np.float32)
