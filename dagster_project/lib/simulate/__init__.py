"""Seeded, vectorized marketplace simulator: a world in the raw data contract plus the truth
(true channel effects by counterfactual re-simulation, campaign uplifts, customer archetypes and
rates, day-of-week / holiday / weather effects) that tests check the platform against."""

from .params import WorldConfig
from .world import World, simulate, write_world

__all__ = ["World", "WorldConfig", "simulate", "write_world"]
