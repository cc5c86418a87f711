"""A figure to draw and what came of it: a `Job` (its title, file stem, one sentence of what it
shows, and a function that draws it), `render` (draw it and save it atomically, or record why
it was skipped) and `Drawn` (its PNG and the note computed from the data, for the report)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import style
from .save import save_figure


@dataclass(frozen=True)
class Job:
    """One figure to draw: `draw()` returns (figure, note) or raises NothingToDraw."""

    title: str
    stem: str
    shows: str  # one sentence: what the figure shows
    draw: Callable


@dataclass(frozen=True)
class Drawn:
    """A figure's outcome: its PNG (None when skipped), what it shows, and the computed note
    (or why it is absent)."""

    title: str
    path: Path | None
    note: str
    shows: str = ""


def render(job: Job, out: Path, pdf: bool) -> Drawn:
    """Draw one figure and save it, or record (and print) why it was skipped."""
    try:
        fig, note = job.draw()
    except style.NothingToDraw as reason:
        print(f"skip {job.stem}: {reason}")
        return Drawn(job.title, None, str(reason), job.shows)
    return Drawn(job.title, save_figure(fig, out, job.stem, pdf=pdf), note, job.shows)
