"""The issue's bars for attribution against the truth, shared by the simulator-world and the
outside-journeys tests (rows of `report.truth_check`)."""

from __future__ import annotations

SPEARMAN = 0.9  # channel credit vs true incremental orders
SHARE_ERROR = 0.10  # no channel's credit share further from its true share
ZERO_EFFECT_SHARE = 0.08  # of the marketing-driven credit, to zero-effect channels
BASELINE_ERROR = 0.20  # baseline vs the true no-marketing orders, relative


def broken_bars(row: dict) -> list[str]:
    """The bars a model's truth-check row breaks (empty: it meets them all)."""
    broken = []
    if not row["spearman"] >= SPEARMAN:
        broken.append(f"spearman {row['spearman']:.3f} < {SPEARMAN}")
    if not row["max_share_error"] <= SHARE_ERROR:
        broken.append(f"share error {row['max_share_error']:.3f} > {SHARE_ERROR}")
    if not row["zero_effect_share"] < ZERO_EFFECT_SHARE:
        broken.append(f"zero-effect share {row['zero_effect_share']:.3f} >= {ZERO_EFFECT_SHARE}")
    if not row["min_channel_credit"] >= 0:
        broken.append(f"negative credit {row['min_channel_credit']:.1f}")
    if not abs(row["baseline_error"]) <= BASELINE_ERROR:
        broken.append(f"baseline error {row['baseline_error']:+.3f}")
    return broken
