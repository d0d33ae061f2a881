"""Charts of the response curves (matplotlib, PNG): per channel, incremental revenue per week
against weekly spend with its interval, the current spend and the recommended spend marked;
one file per channel and one overview grid."""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or in Dagster runs

import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402


def short_krw(v: float) -> str:
    """1,234,567 -> '1.2M'; under a million in full: '20,566'."""
    return f"{v / 1e6:,.1f}M" if abs(v) >= 1e6 else f"{v:,.0f}"


KRW_MILLIONS = FuncFormatter(lambda v, _: short_krw(v))


def _draw(ax, curve: pl.DataFrame, current: float, recommended: float | None, title: str):
    x = curve["weekly_spend"].to_numpy()
    ax.fill_between(
        x,
        curve["revenue_low"].to_numpy(),
        curve["revenue_high"].to_numpy(),
        alpha=0.25,
        label="90 % interval",
    )
    ax.plot(x, curve["revenue"].to_numpy(), label="fitted curve")
    ax.axvline(current, color="grey", linestyle="--", label=f"current {short_krw(current)}")
    if recommended is not None:
        ax.axvline(recommended, color="tab:green", label=f"recommended {short_krw(recommended)}")
    ax.set_title(title)
    ax.set_xlabel("weekly spend (KRW)")
    ax.set_ylabel("incremental revenue / week (KRW)")
    ax.xaxis.set_major_formatter(KRW_MILLIONS)
    ax.xaxis.set_major_locator(MaxNLocator(4))  # full-won labels of 6+ digits overlap at 5+
    ax.yaxis.set_major_formatter(KRW_MILLIONS)
    ax.legend(fontsize=7, loc="lower right")


def overview_png(
    table: pl.DataFrame,
    current: dict[str, float],
    recommended: dict[str, float] | None,
    dpi: int = 90,
    per_row: int = 4,
) -> bytes:
    """Every channel's curve in one grid (`per_row` to a row), as PNG bytes (asset pages,
    report)."""
    channels = sorted(table["channel"].unique().to_list())
    cols = min(per_row, len(channels))
    rows = math.ceil(len(channels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax, ch in zip(axes.flat, channels, strict=False):
        rec = None if recommended is None else recommended.get(ch)
        _draw(ax, table.filter(pl.col("channel") == ch), current[ch], rec, ch)
    for ax in list(axes.flat)[len(channels) :]:
        ax.axis("off")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def curve_charts(
    table: pl.DataFrame,
    current: dict[str, float],
    recommended: dict[str, float] | None,
    out_dir: Path,
    dpi: int = 90,
) -> dict[str, Path]:
    """`table` is curves.curve_table's output. Writes response_curve_<channel>.png per channel
    and response_curves.png (all channels); returns channel (or 'all') -> path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    channels = sorted(table["channel"].unique().to_list())
    paths = {}
    for ch in channels:
        fig, ax = plt.subplots(figsize=(6, 4))
        rec = None if recommended is None else recommended.get(ch)
        _draw(ax, table.filter(pl.col("channel") == ch), current[ch], rec, ch)
        fig.tight_layout()
        paths[ch] = out_dir / f"response_curve_{ch}.png"
        fig.savefig(paths[ch], dpi=dpi)
        plt.close(fig)
    paths["all"] = out_dir / "response_curves.png"
    paths["all"].write_bytes(overview_png(table, current, recommended, dpi))
    return paths
