"""One look for every figure: the colour of each arm (the baseline and every kind of
`nc_core.fixing.etf.FIXED_KINDS`), labels with units, integer epoch ticks, log axes read as plain
numbers, small offsets that keep coinciding arms apart, accuracy error bars that stay within 0
and 100, and the Agg backend (figures are files, never windows)."""

from __future__ import annotations

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.ticker import FuncFormatter, LogFormatter, MaxNLocator  # noqa: E402

from nc_core.fixing.etf import FIXED_KINDS  # noqa: E402

# The one colour map: an arm keeps its colour in every figure.
COLORS = {
    "baseline": "#222222",
    "canonical": "#1f77b4",
    "rotated": "#ff7f0e",
    "orthogonal": "#d62728",
    "freeze": "#2ca02c",
}
OTHER = "#9467bd"  # anything not named above (a kind added later)
MARKERS = {"baseline": "*", "canonical": "o", "rotated": "s", "orthogonal": "D", "freeze": "^"}
ARM_LABELS = {
    "baseline": "baseline (no ETF)",
    "canonical": "ETF, canonical",
    "rotated": "ETF, rotated",
    "orthogonal": "random isometry (control)",
    "freeze": "freeze in place (control)",
}
ARM_ORDER = ["baseline", *FIXED_KINDS]
assert set(FIXED_KINDS) <= set(COLORS), "a kind in nc_core.fixing.etf.FIXED_KINDS has no colour"

ACC_LABEL = "accuracy (%)"
PARAMS_LABEL = "trainable parameters"
# 12,345 -> "12.3k", 1,234,567 -> "1.23M": parameter counts stay readable on any axis.
PARAMS_TICKS = FuncFormatter(
    lambda v, _: (
        f"{v / 1e6:.3g}M" if abs(v) >= 1e6 else f"{v / 1e3:.3g}k" if abs(v) >= 1e3 else f"{v:.0f}"
    )
)

plt.rcParams.update(
    {
        "figure.dpi": 100,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.fontsize": 8,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
    }
)


def arms_in(values) -> list[str]:
    """The arms among `values` in the one order (baseline, then FIXED_KINDS), others after."""
    present = set(values)
    return [a for a in ARM_ORDER if a in present] + sorted(present - set(ARM_ORDER))


def epoch_axis(ax) -> None:
    """Epochs are whole numbers: integer ticks only."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


class PlainLogFormatter(LogFormatter):
    """Log-axis tick labels as plain numbers ("0.2", "3", "100"), never "2×10⁻¹"."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:.3g}"


def log_axis(ax, axis: str = "y") -> None:
    """A log scale whose ticks read as plain numbers; within a decade the 2s and 5s are named."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target.set_major_formatter(PlainLogFormatter())
    target.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def offsets(n: int, *, width: float = 0.24) -> list[float]:
    """Horizontal offsets for `n` arms drawn on one integer axis (layers, epochs), centred on 0
    and `width` wide in all, so that arms whose values coincide stay side by side."""
    if n <= 1:
        return [0.0] * n
    step = min(width / (n - 1), 0.08)
    return [(k - (n - 1) / 2) * step for k in range(n)]


def drawn_legend_entries(axes, proxies: dict[str, object] | None = None):
    """(handles, labels) of every label some artist of `axes` carries, once each, in drawing
    order; a label in `proxies` is shown with that neutral handle instead of the artist (e.g. a
    grey dashed line for "layer fixed", whatever the colour of the first fixed layer drawn) and
    comes after the others. A legend built from it names only what was drawn."""
    proxies = proxies or {}
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(text, proxies.get(text, handle))
    labels = sorted(seen, key=lambda t: t in proxies)  # the arms or layers first, then the keys
    return [seen[t] for t in labels], labels


def color(arm: str) -> str:
    return COLORS.get(arm, OTHER)


def marker(arm: str) -> str:
    return MARKERS.get(arm, "D")


def plot_fixed(ax, x, y, arm: str, label: str, *, color: str | None = None) -> None:
    """`arm`'s points at fixed layers (or a fixed classifier): its marker, hollow, no line."""
    ax.plot(
        x,
        y,
        ls="none",
        marker=marker(arm),
        ms=6,
        mfc="white",
        color=color or COLORS.get(arm, OTHER),
        label=label,
    )


def fixed_key() -> plt.Line2D:
    """The neutral legend handle of `plot_fixed`'s points: a grey hollow circle."""
    return plt.Line2D([], [], color="grey", marker="o", mfc="white", ls="none")


def label(arm: str) -> str:
    return ARM_LABELS.get(arm, arm)


def pct_bars(mean, ci) -> np.ndarray:
    """(2, n) error bars of percentages, cut at 0 and 100 (an accuracy cannot leave them)."""
    mean = np.asarray(mean, float)
    ci = np.nan_to_num(np.asarray(ci, float))
    return np.vstack([np.minimum(ci, mean), np.minimum(ci, 100 - mean)])


class NothingToDraw(Exception):
    """The study lacks the trials a figure needs; the message says which (the report shows it)."""


def grid(n: int, *, ncols: int = 3, size: tuple[float, float] = (4.2, 3.2), **kw):
    """A figure with `n` panels in rows of at most `ncols`; unused axes are hidden."""
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False, **kw
    )
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def layer_axis(ax, names: dict[int, str], *, axis: str = "x") -> None:
    """Tick every measured layer with its name (index -> name), rotated when there are many."""
    idx = sorted(names)
    step = max(1, len(idx) // 16)
    ticks = idx[::step]
    labels = [names[i] for i in ticks]
    if axis == "x":
        ax.set_xticks(
            ticks,
            labels,
            rotation=45 if len(ticks) > 6 else 0,
            ha="right" if len(ticks) > 6 else "center",
        )
    else:
        ax.set_yticks(ticks, labels)


def figure_legend(fig, axes, *, ncol: int = 3) -> None:
    """One legend below all panels with every distinct label any panel drew."""
    handles, labels = drawn_legend_entries(axes)
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=max(1, min(ncol, len(labels))),
        frameon=False,
    )
