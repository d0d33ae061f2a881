"""Random streams for the simulator.

Two kinds, both derived from one ``np.random.SeedSequence(seed)`` with a spawned child per named
component:

- ``Streams.rng(name)``: an ordinary ``np.random.Generator`` for components drawn once (customers,
  products, campaigns, the details of factual sessions).
- ``Streams.uniform(name, *keys)``: a counter-based uniform, a hash of the component's key and
  integer coordinates (customer, day, session slot, ...). The outcome of a customer-day is then a
  fixed function of its coordinates and the intensities, whatever else happened in the world, which
  is what makes counterfactual re-simulation use common random numbers: switching a channel off
  changes only the intensities it touched.
"""

from __future__ import annotations

import numpy as np

# Order matters: a new stream goes at the end so existing worlds keep their numbers.
STREAM_NAMES = (
    "customers",
    "sellers",
    "products",
    "calendar",
    "campaigns",
    "expose",
    "expose_pick",
    "session",
    "view",
    "cart",
    "buy",
    "order",
    "crm_select",
    "crm_holdout",
    "details",
    "coupon_use",
    "acquisition",
    "profile_changes",
    "coupon_response",
    "episode",
    "assortment",
    "flighting",
    "intent",
    "messaging",
    "lift_study",
    "prices",
)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
_TO_UNIT = 2.0**-53


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (a bijection on uint64 with good avalanche)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


class Streams:
    def __init__(self, seed: int):
        children = np.random.SeedSequence(seed).spawn(len(STREAM_NAMES))
        self._seqs = dict(zip(STREAM_NAMES, children, strict=True))
        self._keys = {
            n: np.uint64(s.generate_state(1, np.uint64)[0]) for n, s in self._seqs.items()
        }

    def rng(self, name: str, *keys: int) -> np.random.Generator:
        """The component's generator; with ``keys`` (such as a day) an independent one per key, so
        a day's draws do not depend on how many days were drawn before it."""
        seq = self._seqs[name]
        if keys:
            seq = np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, *map(int, keys)))
        return np.random.default_rng(seq)

    def uniform(self, name: str, *keys) -> np.ndarray:
        """Uniforms in [0, 1), one per broadcast element of the integer ``keys``."""
        arrays = np.broadcast_arrays(*(np.asarray(k, dtype=np.int64) for k in keys))
        h = np.full(arrays[0].shape, self._keys[name], dtype=np.uint64)
        with np.errstate(over="ignore"):
            for a in arrays:
                h = _mix((h ^ a.astype(np.uint64)) + _GOLDEN)
        return (h >> _S11).astype(np.float64) * _TO_UNIT

    def normal(self, name: str, *keys) -> np.ndarray:
        """Standard normals by Box-Muller over two keyed uniforms."""
        u1 = self.uniform(name, *keys, 0)
        u2 = self.uniform(name, *keys, 1)
        return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
