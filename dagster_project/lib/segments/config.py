"""Segment thresholds, in one place: dataclasses with the defaults below, optionally overridden
by a YAML file (`segments.yml` at the repo root, or the file `MOPT_SEGMENTS_CONFIG` names).
docs/segments.md lists every field."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[3] / "segments.yml"

# The ten named segments over (recency score, frequency-monetary score), both 1-5. First match
# wins; the grid below covers all 25 cells (a test checks it). The usual RFM segment map.
DEFAULT_SEGMENT_MAP: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    ("champions", (5, 5), (4, 5)),
    ("loyal", (3, 4), (4, 5)),
    ("cant_lose", (1, 2), (5, 5)),
    ("at_risk", (1, 2), (3, 4)),
    ("hibernating", (1, 2), (1, 2)),
    ("need_attention", (3, 3), (3, 3)),
    ("about_to_sleep", (3, 3), (1, 2)),
    ("potential_loyalist", (4, 5), (2, 3)),
    ("promising", (4, 4), (1, 1)),
    ("new", (5, 5), (1, 1)),
)


@dataclass(frozen=True)
class RfmConfig:
    """RFM scores 1-5. Without explicit bounds a score is the quintile of the customer's rank
    among buyers (ties share the lower score, so equal values always get equal scores). With
    bounds (four ascending numbers), a value >= bounds[i] scores i + 2 (recency: fewer days is
    better, so a value <= bounds[i] scores 5 - i)."""

    recency_days: tuple[float, ...] | None = None
    frequency_orders: tuple[float, ...] | None = None
    monetary_krw: tuple[float, ...] | None = None
    segments: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = DEFAULT_SEGMENT_MAP
    # Customers without an order get this segment (the ten segments are over buyers).
    no_purchase_segment: str = "no_purchase"


@dataclass(frozen=True)
class ValueTierConfig:
    """The "333" value tiers: recency, frequency and monetary each scored 1-3. Defaults are the
    retail-data competition report's: a last purchase in the latest two months scores 3, the two
    before 2, earlier 1; a mean repurchase interval within 15 days 3, longer 2, a single purchase
    1; total spend >= 1,000,000 KRW 3, >= 100,000 KRW 2, else 1."""

    recency_days: tuple[int, int] = (60, 120)
    repurchase_interval_days: int = 15
    monetary_krw: tuple[float, float] = (100_000.0, 1_000_000.0)
    # recency + frequency above this is "engaged".
    engaged_above: int = 4
    # A monetary score at or above this is "high value". The report used 3 (>= 1M KRW a year);
    # 2 suits a shorter history, where few customers reach 1M KRW.
    high_value_min_score: int = 2


@dataclass(frozen=True)
class BehaviourConfig:
    """Browsing types: customers with at least `min_sessions` sessions are clustered (k-means,
    k=3, best of `restarts` seeded starts) on their per-session searches, page views and
    minutes and their mean viewed price, each as log of the ratio to the overall mean."""

    min_sessions: int = 2
    seed: int = 7
    iterations: int = 50
    restarts: int = 10


@dataclass(frozen=True)
class PreferenceConfig:
    """Category preference (docs/segments.md). `method`: `bayes` (default) or `seed`.
    bayes: a Dirichlet prior centred on the customer's demographic cell (`prior: cell`, age band
    x gender) or on everyone (`prior: population`), updated by the customer's purchased lines
    and their product views at `view_weight` each; `credible_level` of the interval.
    seed: add-one smoothing of the purchase prior and of the age-band / gender likelihoods."""

    method: str = "bayes"
    prior: str = "cell"
    view_weight: float = 0.5
    credible_level: float = 0.9
    prior_smoothing: float = 1.0
    likelihood_smoothing: float = 1.0


@dataclass(frozen=True)
class SegmentConfig:
    rfm: RfmConfig = field(default_factory=RfmConfig)
    value_tiers: ValueTierConfig = field(default_factory=ValueTierConfig)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    preference: PreferenceConfig = field(default_factory=PreferenceConfig)


def _override(obj: Any, values: dict[str, Any], where: str) -> Any:
    names = {f.name: f for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in (values or {}).items():
        if key not in names:
            raise ValueError(f"{where}: unknown setting {key!r} (known: {', '.join(names)})")
        current = getattr(obj, key)
        if is_dataclass(current):
            changes[key] = _override(current, value, f"{where}.{key}")
        elif key == "segments":
            changes[key] = tuple((s["name"], tuple(s["recency"]), tuple(s["fm"])) for s in value)
        elif isinstance(value, list):
            changes[key] = tuple(value)
        else:
            changes[key] = value
    return replace(obj, **changes)


def load_segment_config(path: str | Path | None = None) -> SegmentConfig:
    """Defaults, overridden by the YAML at `path`, else $MOPT_SEGMENTS_CONFIG, else
    segments.yml at the repo root, when that file exists."""
    path = path or os.environ.get("MOPT_SEGMENTS_CONFIG") or DEFAULT_CONFIG_PATH
    if not Path(path).exists():
        return SegmentConfig()
    return _override(SegmentConfig(), yaml.safe_load(Path(path).read_text()) or {}, str(path))
