"""A figure as files: `out/stem.png` (and `.pdf` when asked), each written atomically
(`nc_core.results.atomic`), so a crash or a second run never leaves a half-written figure. The
PNG carries no time (only matplotlib's version): the same data draws the same bytes."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from nc_core.results.atomic import write_atomic

DPI = 150


def save_figure(fig: Figure, out: Path, stem: str, *, pdf: bool = False) -> Path:
    """Save `fig` as `out/stem.png` (and `.pdf`), close it, return the PNG's path."""
    formats = ["png", "pdf"] if pdf else ["png"]
    try:
        for fmt in formats:
            write_atomic(
                Path(out) / f"{stem}.{fmt}",
                lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight"),
            )
    finally:
        plt.close(fig)
    return Path(out) / f"{stem}.png"
