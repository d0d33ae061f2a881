"""The standard attribution models on the same journeys. Each returns one weight per touch (aligned
with `Journeys.touches`): the touch's share of its journey's conversion, summing to 1 over the
touches of every journey that has touches. `credit()` turns weights into conversions and revenue.

- Rule-based: last click, first click, linear, time decay (half-life in days), position-based
  (40 % first, 40 % last, 20 % shared by the middle; 50/50 for two touches).
- Markov chain of order k: states are the last k channels (padded with a start symbol); removal
  effect of a channel = 1 - P(conversion | its states lead to no conversion) / P(conversion),
  from the absorbing chain's fundamental matrix by a sparse linear solve, no simulation. A
  journey's conversion is split across its channels in proportion to their removal effects, and
  a channel's share equally across its touches in the journey.
- Funnel-aware Markov: the same chain (order 1) with states (channel, funnel stage).
- Shapley: v(S) = conversion rate of journeys whose channel set is exactly S (shrunk towards the
  overall rate by `prior_journeys` pseudo-journeys; v(empty) = 0); a journey's conversion is split
  by the Shapley values of its own channel set (negative values count as 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import factorial

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from dagster_project.lib.attribution.journeys import BASELINE, FUNNEL_STAGES, Journeys

POSITION_ENDS = 0.4  # position-based: first and last touch each


def _starts(j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean first-touch and last-touch flags of touches sorted by journey."""
    first = np.ones(j.size, dtype=bool)
    first[1:] = j[1:] != j[:-1]
    last = np.ones(j.size, dtype=bool)
    last[:-1] = j[1:] != j[:-1]
    return first, last


def _per_journey_sum(j: np.ndarray, values: np.ndarray, n_journeys: int) -> np.ndarray:
    return np.bincount(j, weights=values, minlength=n_journeys)


def last_click(jr: Journeys) -> np.ndarray:
    j, _ = jr.arrays()
    return _starts(j)[1].astype(np.float64)


def first_click(jr: Journeys) -> np.ndarray:
    j, _ = jr.arrays()
    return _starts(j)[0].astype(np.float64)


def linear(jr: Journeys) -> np.ndarray:
    j, _ = jr.arrays()
    n = np.bincount(j, minlength=jr.journeys.height)
    return 1.0 / n[j]


def time_decay(jr: Journeys, half_life_days: float = 7.0) -> np.ndarray:
    """Weight 2^(-days before conversion / half-life), normalised per journey."""
    if half_life_days <= 0:
        raise ValueError("half_life_days must be positive")
    j, _ = jr.arrays()
    days = jr.touches["days_before"].to_numpy()
    raw = np.exp2(-(days - days.min(initial=0.0)) / half_life_days)
    return raw / _per_journey_sum(j, raw, jr.journeys.height)[j]


def position_based(jr: Journeys, ends: float = POSITION_ENDS) -> np.ndarray:
    j, _ = jr.arrays()
    n = np.bincount(j, minlength=jr.journeys.height)[j]
    first, last = _starts(j)
    middle = np.where(n > 2, (1 - 2 * ends) / np.maximum(n - 2, 1), 0.0)
    w = np.where(first | last, ends, middle)
    w = np.where(n == 2, 0.5, w)
    return np.where(n == 1, 1.0, w)


# ---------------------------------------------------------------------------------------------
# Markov chains


@dataclass(frozen=True)
class MarkovResult:
    order: int
    conversion_probability: float
    removal_effects: np.ndarray  # one per channel
    states: int


def _state_codes(j: np.ndarray, symbols: np.ndarray, n_symbols: int, order: int) -> np.ndarray:
    """Each touch's state: its last `order` symbols in base n_symbols + 1 (0 pads the start)."""
    code = np.zeros(j.size, dtype=np.int64)
    base = n_symbols + 1
    first, _ = _starts(j)
    # position within the journey, to know which lags exist
    start_idx = np.maximum.accumulate(np.where(first, np.arange(j.size), 0))
    pos = np.arange(j.size) - start_idx
    for lag in range(order):
        shifted = np.zeros(j.size, dtype=np.int64)
        shifted[lag:] = symbols[: j.size - lag] + 1
        code += np.where(pos >= lag, shifted, 0) * base**lag
    return code


def markov_removal_effects(
    jr: Journeys,
    order: int = 1,
    symbols: np.ndarray | None = None,
    symbol_channel: np.ndarray | None = None,
) -> MarkovResult:
    """Removal effects of an order-k absorbing Markov chain (see the module docstring).

    `symbols` (default: the touches' channel codes) may be richer states, e.g. channel x funnel
    stage, with `symbol_channel` mapping each symbol to its channel."""
    if order < 1:
        raise ValueError("order must be >= 1")
    j, ch = jr.arrays()
    n_ch = jr.n_channels
    if symbols is None:
        symbols, symbol_channel = ch, np.arange(n_ch)
    assert symbol_channel is not None
    n_sym = int(symbol_channel.size)
    if j.size == 0:
        return MarkovResult(order, 0.0, np.zeros(n_ch), 0)
    converted = jr.journeys["converted"].to_numpy()
    code = _state_codes(j, symbols, n_sym, order)
    first, last = _starts(j)
    # Compact the observed states to 1..n (0 = start); two absorbing states follow. Codes are
    # small for the usual sizes (9^3 = 729 for 8 channels at order 3): a lookup table and
    # bincount are 4x faster than sorting 5M codes (np.unique) at 1M journeys.
    space = (n_sym + 1) ** order
    if space <= 5_000_000:
        present = np.bincount(code, minlength=space) > 0
        uniq = np.flatnonzero(present)
        lookup = np.cumsum(present) - 1
        idx = lookup[code]
    else:
        uniq, idx = np.unique(code, return_inverse=True)
    n = uniq.size + 1
    state = idx + 1
    conv_state, null_state = n, n + 1
    prev = np.empty_like(state)
    prev[0] = 0
    prev[1:] = state[:-1]
    prev[first] = 0
    src = np.concatenate([prev, state[last]])
    dst = np.concatenate([state, np.where(converted[j[last]], conv_state, null_state)])
    size = n + 2
    if size * size <= 4_000_000:
        counts = sp.csr_matrix(
            np.bincount(src * size + dst, minlength=size * size).reshape(size, size).astype(float)
        )
    else:
        counts = sp.coo_matrix((np.ones(src.size), (src, dst)), shape=(size, size)).tocsr()
    out = np.asarray(counts.sum(axis=1)).ravel()[:n]
    trans = sp.diags(1.0 / np.maximum(out, 1)) @ counts[:n]
    q = trans[:, :n].tocsc()
    r = np.asarray(trans[:, conv_state].todense()).ravel()

    # Which channels each state contains (any of its last `order` symbols).
    base = n_sym + 1
    contains = np.zeros((n, n_ch), dtype=bool)
    for lag in range(order):
        digit = (uniq // base**lag) % base
        has = digit > 0
        contains[np.flatnonzero(has) + 1, symbol_channel[digit[has] - 1]] = True

    def p_conversion(keep: np.ndarray) -> float:
        k = np.flatnonzero(keep)
        system = sp.identity(k.size, format="csc") - q[k][:, k]
        x = splu(system.tocsc()).solve(r[k])
        return float(x[0])  # state 0 (start) is always kept

    p = p_conversion(np.ones(n, dtype=bool))
    effects = np.zeros(n_ch)
    if p > 0:
        for c in range(n_ch):
            if contains[:, c].any():
                effects[c] = 1.0 - p_conversion(~contains[:, c]) / p
    return MarkovResult(order, p, effects, n)


def _split_by_channel_value(jr: Journeys, value: np.ndarray) -> np.ndarray:
    """Touch weights: each journey's conversion split across its channels in proportion to
    `value[channel]` (>= 0), then equally across the channel's touches in the journey; equal
    split across channels when all of a journey's channels have value 0."""
    return _split_by_pair_value(jr, lambda pair_j, pair_c: value[pair_c])


def _split_by_pair_value(
    jr: Journeys, value_of: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """As _split_by_channel_value, with a value per (journey, channel) pair:
    `value_of(journey indices, channel codes)`."""
    j, ch = jr.arrays()
    n_ch = jr.n_channels
    # touches of the same channel in the journey
    uniq, inv, cnt = np.unique(j * n_ch + ch, return_inverse=True, return_counts=True)
    pair_j, pair_c = uniq // n_ch, uniq % n_ch
    pair_v = np.maximum(value_of(pair_j, pair_c), 0.0)
    total = np.bincount(pair_j, weights=pair_v, minlength=jr.journeys.height)
    n_pairs = np.bincount(pair_j, minlength=jr.journeys.height)
    share = np.where(
        total[pair_j] > 0,
        pair_v / np.where(total[pair_j] > 0, total[pair_j], 1),
        1 / n_pairs[pair_j],
    )
    return share[inv] / cnt[inv]


def markov(jr: Journeys, order: int = 1) -> tuple[np.ndarray, MarkovResult]:
    result = markov_removal_effects(jr, order)
    return _split_by_channel_value(jr, result.removal_effects), result


def funnel_markov(jr: Journeys) -> tuple[np.ndarray, MarkovResult] | None:
    """Order-1 Markov over (channel, funnel stage) states; None without funnel stages."""
    stage = jr.touches["funnel_stage"]
    if stage.null_count() == stage.len() and stage.len() > 0:
        return None
    n_st = len(FUNNEL_STAGES)
    _, ch = jr.arrays()
    symbols = ch * n_st + stage.fill_null(0).to_numpy().astype(np.int64)
    symbol_channel = np.repeat(np.arange(jr.n_channels), n_st)
    result = markov_removal_effects(jr, 1, symbols, symbol_channel)
    return _split_by_channel_value(jr, result.removal_effects), result


# ---------------------------------------------------------------------------------------------
# Shapley values over channel coalitions


def journey_masks(jr: Journeys) -> np.ndarray:
    """Each journey's channel set as a bit mask (0 for journeys without touches)."""
    j, ch = jr.arrays()
    masks = np.zeros(jr.journeys.height, dtype=np.int64)
    np.bitwise_or.at(masks, j, np.left_shift(1, ch))
    return masks


def shapley_weights(n_players: int) -> np.ndarray:
    """w[t] = t! (n - t - 1)! / n! for a coalition of t others out of n players."""
    return np.array(
        [
            factorial(t) * factorial(n_players - t - 1) / factorial(n_players)
            for t in range(n_players)
        ]
    )


def shapley_of_coalition(mask: int, value: np.ndarray) -> dict[int, float]:
    """Shapley value of each player (bit) of `mask` in the game v restricted to its subsets:
    phi_b = sum over T in mask without b of |T|! (n - |T| - 1)! / n! (v(T + b) - v(T))."""
    players = np.array([b for b in range(int(mask).bit_length()) if mask >> b & 1], dtype=np.int64)
    n = players.size
    w = shapley_weights(n)
    subsets = np.arange(1 << (n - 1), dtype=np.int64)
    bits = (subsets[:, None] >> np.arange(n - 1)[None, :]) & 1  # which of the others are in T
    sizes = bits.sum(axis=1)
    phi = {}
    for k, b in enumerate(players):
        others = np.delete(players, k)
        t_mask = bits @ np.left_shift(1, others) if n > 1 else np.zeros(1, dtype=np.int64)
        gain = value[t_mask | (1 << b)] - value[t_mask]
        phi[int(b)] = float(np.sum(w[sizes] * gain))
    return phi


def coalition_values(jr: Journeys, prior_journeys: float = 10.0) -> np.ndarray:
    """v(S) for every channel set S (array over masks): the conversion rate of journeys whose
    channel set is exactly S, shrunk towards the overall rate of journeys with touches."""
    if jr.n_channels > 16:
        raise ValueError("Shapley attribution supports at most 16 channels")
    masks = journey_masks(jr)
    converted = jr.journeys["converted"].to_numpy().astype(np.float64)
    touched = masks > 0
    size = 1 << jr.n_channels
    n = np.bincount(masks[touched], minlength=size).astype(np.float64)
    conv = np.bincount(masks[touched], weights=converted[touched], minlength=size)
    overall = conv.sum() / max(n.sum(), 1)
    value = (conv + prior_journeys * overall) / np.maximum(n + prior_journeys, 1e-12)
    value[0] = 0.0
    return value


def shapley(jr: Journeys, prior_journeys: float = 10.0) -> tuple[np.ndarray, dict[int, dict]]:
    """Touch weights from each journey's own coalition's Shapley values; and those values per
    observed coalition (mask -> {channel code: value})."""
    value = coalition_values(jr, prior_journeys)
    masks = journey_masks(jr)
    observed = np.unique(masks[masks > 0])
    per_coalition = {int(m): shapley_of_coalition(int(m), value) for m in observed}
    # A value per (journey, channel): look up the journey's coalition table.
    phi = np.zeros((1 << jr.n_channels, jr.n_channels))
    for m, values in per_coalition.items():
        for b, v in values.items():
            phi[m, b] = v
    weights = _split_by_pair_value(jr, lambda pair_j, pair_c: phi[masks[pair_j], pair_c])
    return weights, per_coalition


# ---------------------------------------------------------------------------------------------
# Credit


def credit(
    jr: Journeys,
    weights: np.ndarray,
    model: str,
    scope: str,
    journeys: np.ndarray | None = None,
    carryover: np.ndarray | None = None,
) -> pl.DataFrame:
    """Conversions and revenue credited per channel and campaign: weight x the journey's
    conversion (and revenue). What the weights leave of a converting journey (all of it for a
    journey without touches; the no-marketing share for the incrementality model) goes to
    `(baseline)`, so the credit sums to the conversions and revenue. `journeys`: a boolean mask
    of the journeys to count (default all). `carryover` (journeys x channels): shares credited
    to a channel without a touch of the journey (no campaign)."""
    n_j = jr.journeys.height
    keep = np.ones(n_j, dtype=bool) if journeys is None else journeys
    conv = jr.journeys["converted"].to_numpy().astype(np.float64) * keep
    rev = jr.journeys["revenue"].to_numpy() * keep
    j, _ = jr.arrays()
    touch_credit = jr.touches.select("channel", "campaign_id").with_columns(
        conversions=weights * conv[j], revenue=weights * rev[j]
    )
    left = 1.0 - np.bincount(j, weights=weights, minlength=n_j)
    carried = np.zeros((n_j, jr.n_channels)) if carryover is None else carryover
    left -= carried.sum(axis=1)
    base = pl.DataFrame(
        {
            "channel": [BASELINE, *jr.channels],
            "campaign_id": [None] * (1 + jr.n_channels),
            "conversions": [float(np.sum(left * conv)), *(conv @ carried)],
            "revenue": [float(np.sum(left * rev)), *(rev @ carried)],
        },
        schema=touch_credit.schema,
    )
    return (
        pl.concat([touch_credit, base])
        .group_by("channel", "campaign_id")
        .agg(pl.col("conversions").sum(), pl.col("revenue").sum())
        .filter((pl.col("conversions").abs() > 1e-9) | (pl.col("revenue").abs() > 1e-9))
        .with_columns(model=pl.lit(model), scope=pl.lit(scope))
        .select("model", "scope", "channel", "campaign_id", "conversions", "revenue")
        .sort("channel", "campaign_id", nulls_last=True)
    )
