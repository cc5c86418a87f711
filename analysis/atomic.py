"""Atomic output: every file is written to a temporary name beside it, then renamed into place,
so a crash or a second run never leaves a half-written table, figure or report."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from nc_core.results.atomic import write_atomic


def write_text_atomic(path: Path, text: str) -> Path:
    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    return write_atomic(path, write)


def save_figure_atomic(fig: Figure, out: Path, stem: str, *, pdf: bool = False) -> Path:
    """Save `fig` as `out/stem.png` (and `.pdf` when asked), close it, return the PNG's path."""
    formats = ["png", "pdf"] if pdf else ["png"]
    try:
        for fmt in formats:
            write_atomic(
                Path(out) / f"{stem}.{fmt}",
                lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight"),
            )
    finally:
        plt.close(fig)
    return Path(out) / f"{stem}.png"
