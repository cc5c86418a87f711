"""Point labels that neither overlap each other nor leave the axes.

Greedy placement in display coordinates: each label tries offsets around its point, nearest
first, and keeps the first whose box stays inside the axes and clear of every label placed
before it and of every point; a label that finds no room goes to a column beside the axes,
joined to its point by a thin line. Call it after the axes limits and layout are final.
"""

from __future__ import annotations

import math

from matplotlib.text import Text
from matplotlib.transforms import Bbox

RADII = (8, 14, 22, 32, 44, 58, 74, 92)  # points
ANGLES = (0, 45, -45, 90, -90, 135, -135, 180, 22, -22, 68, -68, 112, -112, 158, -158)


def _align(angle: float) -> tuple[str, str]:
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    ha = "left" if c > 0.3 else "right" if c < -0.3 else "center"
    va = "bottom" if s > 0.3 else "top" if s < -0.3 else "center"
    return ha, va


def place_labels(
    ax, points, *, fontsize: float = 7, pad: float = 1.5, marker_size: float = 10, bars=()
) -> list:
    """Annotate `points` ((x, y, text, colour), data coordinates) on `ax`; return the texts.
    `marker_size` (points): the square around each point that labels keep clear of; `bars`:
    vertical error bars (x, y_low, y_high) they keep clear of too."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    px = fig.dpi / 72.0
    dots = [ax.transData.transform((x, y)) for x, y, _, _ in points]
    half = marker_size / 2 * px
    dot_boxes = [Bbox.from_bounds(u - half, v - half, 2 * half, 2 * half) for u, v in dots]
    for x, lo, hi in bars:
        (u, v0), (_, v1) = ax.transData.transform([(x, lo), (x, hi)])
        dot_boxes.append(Bbox.from_extents(u - 2 * px, min(v0, v1), u + 2 * px, max(v0, v1)))
    placed: list[Bbox] = []
    texts, homeless = [], []
    for x, y, text, colour in points:
        ann = None
        for r in RADII:
            for angle in ANGLES:
                dx, dy = r * math.cos(math.radians(angle)), r * math.sin(math.radians(angle))
                ha, va = _align(angle)
                ann = ax.annotate(
                    text,
                    (x, y),
                    xytext=(dx, dy),
                    textcoords="offset points",
                    ha=ha,
                    va=va,
                    fontsize=fontsize,
                    color=colour,
                    arrowprops=(
                        {"arrowstyle": "-", "lw": 0.5, "color": colour, "shrinkA": 0, "shrinkB": 2}
                        if r > 12
                        else None
                    ),
                )
                box = text_box(ann, renderer).padded(pad * px)
                clear = (
                    inside.containsx(box.x0)
                    and inside.containsx(box.x1)
                    and inside.containsy(box.y0)
                    and inside.containsy(box.y1)
                    and not any(box.overlaps(b) for b in placed)
                    and not any(box.overlaps(b) for b in dot_boxes)
                )
                if clear:
                    placed.append(box)
                    texts.append(ann)
                    break
                ann.remove()
                ann = None
            if ann is not None:
                break
        if ann is None:
            homeless.append((x, y, text, colour))
    texts += _column(ax, homeless, placed, fontsize)
    return texts


def _column(ax, points, placed, fontsize: float) -> list:
    """Labels stacked top-down in a column right of the axes, each joined to its point."""
    texts = []
    y_frac = 1.0
    for x, y, text, colour in sorted(points, key=lambda p: -p[1]):
        ann = ax.annotate(
            text,
            (x, y),
            xytext=(1.02, y_frac),
            textcoords="axes fraction",
            ha="left",
            va="top",
            fontsize=fontsize,
            color=colour,
            annotation_clip=False,
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": colour, "alpha": 0.6},
        )
        renderer = ax.figure.canvas.get_renderer()
        height = text_box(ann, renderer).height / ax.get_window_extent(renderer).height
        y_frac -= height * 1.15
        texts.append(ann)
    return texts


def text_box(text, renderer) -> Bbox:
    """The box of a label's text alone (an annotation's own box includes its leader line)."""
    if hasattr(text, "update_positions"):
        text.update_positions(renderer)  # place an annotation's text at its offset first
    return Text.get_window_extent(text, renderer)


def overlapping(texts, renderer) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap (for tests and checks)."""
    boxes = [(t.get_text(), text_box(t, renderer)) for t in texts if t.get_text()]
    return [
        (a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1 :] if ba.overlaps(bb)
    ]
