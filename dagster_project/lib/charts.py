"""Charts as PNG bytes (matplotlib, Agg backend: no display), drawn from small Polars summary
frames, for asset pages (defs/metadata.py embeds them) and the HTML report. One look for all:
readable at 700 px wide, axis labels with units, numbers formatted as in lib/display.py.

matplotlib is imported inside the functions: the definitions load without it."""

from __future__ import annotations

import io
from collections.abc import Sequence

import polars as pl

WIDTH_IN = 7.0
DPI = 100
# Colour-blind-safe (Okabe-Ito), in the order series are drawn.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
VERDICT_COLOURS = {
    "effective": "#009E73",
    "harmful": "#D55E00",
    "no_effect": "#7f7f7f",
    "inconclusive": "#E69F00",
}


def _figure(height_in: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(WIDTH_IN, height_in), dpi=DPI)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", alpha=0.3)
    return fig, ax


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _tick(v: float) -> str:
    """Thousands separators; small values (ROAS, MASE) keep up to two decimals."""
    return f"{v:,.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.2f}".rstrip("0").rstrip(".")


def _thousands(ax, axis: str = "x") -> None:
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _: _tick(v))
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


def _percent(ax, axis: str = "x") -> None:
    from matplotlib.ticker import PercentFormatter

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(PercentFormatter(1.0))


def grouped_bars(
    frame: pl.DataFrame,
    label: str,
    series: Sequence[str],
    title: str,
    xlabel: str,
    percent: bool = False,
) -> bytes:
    """Horizontal bars: one group per row of `label`, one bar per column in `series` (e.g.
    channels x attribution models). Missing values are left out, not drawn as 0."""
    import numpy as np

    labels = frame[label].cast(pl.String).to_list()
    height = 0.8 / max(len(series), 1)
    fig, ax = _figure(max(2.5, 0.35 * len(labels) * max(1, len(series) / 2) + 1.2))
    y = np.arange(len(labels))
    for i, name in enumerate(series):
        values = frame[name].cast(pl.Float64).to_numpy()
        shown = np.isfinite(values)
        ax.barh(
            y[shown] + (i - (len(series) - 1) / 2) * height,
            values[shown],
            height=height,
            label=name,
            color=PALETTE[i % len(PALETTE)],
        )
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, loc="left")
    _percent(ax) if percent else _thousands(ax)
    if len(series) > 1:
        ax.legend(frameon=False, fontsize=8, loc="lower right")
    return _png(fig)


def bars(
    frame: pl.DataFrame, label: str, value: str, title: str, xlabel: str, percent: bool = False
) -> bytes:
    """One horizontal bar per row (e.g. customers per segment), in the frame's order."""
    return grouped_bars(frame, label, [value], title, xlabel, percent)


def predicted_vs_actual(
    frame: pl.DataFrame, label: str, predicted: str, actual: str, title: str, ylabel: str
) -> bytes:
    """Bars of the actual value per group (e.g. LTV decile) with the prediction as markers."""
    import numpy as np

    fig, ax = _figure(3.5)
    ax.grid(axis="x", visible=False)
    ax.grid(axis="y", alpha=0.3)
    x = np.arange(frame.height)
    ax.bar(x, frame[actual].cast(pl.Float64).to_numpy(), color=PALETTE[0], label="actual")
    ax.plot(
        x,
        frame[predicted].cast(pl.Float64).to_numpy(),
        "o-",
        color=PALETTE[1],
        label="predicted",
    )
    ax.set_xticks(x, frame[label].cast(pl.String).to_list())
    ax.set_xlabel(label)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left")
    _thousands(ax, "y")
    ax.legend(frameon=False)
    return _png(fig)


def calibration(frame: pl.DataFrame, predicted: str, observed: str, title: str) -> bytes:
    """Observed against predicted rate per bin, with the diagonal a calibrated model follows."""
    fig, ax = _figure(4.5)
    ax.grid(axis="y", alpha=0.3)
    p = frame[predicted].cast(pl.Float64).to_numpy()
    o = frame[observed].cast(pl.Float64).to_numpy()
    top = float(max(p.max(initial=0), o.max(initial=0), 0.01)) * 1.05
    ax.plot([0, top], [0, top], "--", color="grey", linewidth=1, label="perfectly calibrated")
    ax.plot(p, o, "o-", color=PALETTE[0], label="model")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted purchase rate")
    ax.set_ylabel("observed purchase rate")
    _percent(ax, "x")
    _percent(ax, "y")
    ax.set_title(title, loc="left")
    ax.legend(frameon=False)
    return _png(fig)


def intervals(
    frame: pl.DataFrame,
    label: str,
    estimate: str,
    low: str,
    high: str,
    title: str,
    xlabel: str,
    colour_by: str | None = None,
    percent: bool = True,
) -> bytes:
    """A forest plot: one row per group (e.g. campaign) with its estimate and interval, and a
    line at zero; coloured by a verdict column when given."""
    import numpy as np

    fig, ax = _figure(max(2.5, 0.35 * frame.height + 1.2))
    y = np.arange(frame.height)
    est = frame[estimate].cast(pl.Float64).to_numpy()
    lo = frame[low].cast(pl.Float64).to_numpy()
    hi = frame[high].cast(pl.Float64).to_numpy()
    groups = frame[colour_by].cast(pl.String).to_list() if colour_by else [None] * frame.height
    for value in dict.fromkeys(groups):
        rows = np.array([g == value for g in groups])
        colour = VERDICT_COLOURS.get(value or "", PALETTE[0])
        ax.errorbar(
            est[rows],
            y[rows],
            xerr=[est[rows] - lo[rows], hi[rows] - est[rows]],
            fmt="o",
            color=colour,
            capsize=3,
            label=value,
        )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, frame[label].cast(pl.String).to_list())
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, loc="left")
    _percent(ax) if percent else _thousands(ax)
    if colour_by:
        ax.legend(frameon=False, fontsize=8, loc="lower right")
    return _png(fig)


def _band(ax, frame: pl.DataFrame, x, y, low, high, actual: str | None, dot: float = 6) -> None:
    ax.grid(axis="y", alpha=0.3)
    xs = frame[x].to_list()
    ax.fill_between(
        xs,
        frame[low].cast(pl.Float64).to_numpy(),
        frame[high].cast(pl.Float64).to_numpy(),
        color=PALETTE[0],
        alpha=0.2,
        label="interval",
    )
    ax.plot(xs, frame[y].cast(pl.Float64).to_numpy(), color=PALETTE[0], label=y)
    if actual:
        values = frame[actual].cast(pl.Float64).to_numpy()
        ax.plot(xs, values, ".", color="black", markersize=dot, label=actual)
    _thousands(ax, "y")


def band_grid(
    frame: pl.DataFrame,
    facet: str,
    x: str,
    y: str,
    low: str,
    high: str,
    title: str,
    ylabel: str,
    actual: str | None = None,
    per_row: int = 2,
) -> bytes:
    """Small multiples: one panel per value of `facet` (e.g. a forecast per category), each a
    line with its interval as a band and the actual values as dots, with its own y range, in
    `per_row` columns."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = frame[facet].unique().sort().to_list()
    cols = max(1, min(per_row, len(panels)))
    rows = max(1, math.ceil(len(panels) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(WIDTH_IN, 2.3 * rows + 0.6), dpi=DPI, squeeze=False, sharex=True
    )
    for ax, name in zip(axes.flat, panels, strict=False):
        _band(ax, frame.filter(pl.col(facet) == name).sort(x), x, y, low, high, actual, dot=3)
        ax.set_title(str(name), loc="left", fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    axes.flat[0].legend(frameon=False, fontsize=7)
    fig.supylabel(ylabel, fontsize=9)
    fig.suptitle(title, x=0.01, ha="left")
    fig.autofmt_xdate()
    return _png(fig)
