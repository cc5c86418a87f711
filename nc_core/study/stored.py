"""A study's trials as the export reads them (`StoredTrial`): from Tune's experiment state, or
rebuilt from the trial folders alone when that state cannot be read. No Ray here.

Tune keeps two copies of what a trial reported: the experiment state (one file for the whole
study) and the trial's own folder, `<experiment>/trial_<id>/` (our `_trial_dirname`), with
`params.json` (the trial's config), `result.json` (one JSON line per report), `error.txt` and its
`checkpoint_NNNNNN/` folders. A truncated or unreadable experiment state must not lose the
study: `folder_trials` reads each trial from its folder, with no status from Tune (its
checkpoints and reports say whether it finished).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

TRIAL_PREFIX, CHECKPOINT_PREFIX = "trial_", "checkpoint_"
REPORT_KEY = ["epoch", "time_total_s"]  # identifies one report: an epoch and Tune's clock


@dataclass(frozen=True)
class LocalCheckpoint:
    """A checkpoint folder on this machine, read where it is."""

    path: str

    @contextlib.contextmanager
    def as_directory(self) -> Iterator[str]:
        """The folder itself (a Tune checkpoint's interface)."""
        yield self.path


@dataclass(frozen=True)
class StoredTrial:
    """One trial of a stored study: its id, its Tune config, Tune's status ("" when rebuilt
    from its folder alone), its checkpoints newest first (objects with `as_directory()`), its
    reported metrics (one row per report, oldest first; None: none read), the last line of its
    error if it failed, and its folder."""

    trial_id: str
    config: dict
    status: str = ""
    checkpoints: tuple[Any, ...] = ()
    history: pd.DataFrame | None = None
    error: str = ""
    path: str = ""


def local_checkpoints(trial_dir: str | Path) -> tuple[LocalCheckpoint, ...]:
    """The checkpoint folders of a trial folder on this machine, newest (highest index) first."""
    found = []
    for d in Path(trial_dir).glob(f"{CHECKPOINT_PREFIX}*"):
        suffix = d.name[len(CHECKPOINT_PREFIX) :]
        if d.is_dir() and suffix.isdigit():
            found.append((int(suffix), d))
    return tuple(LocalCheckpoint(str(d)) for _, d in sorted(found, reverse=True))


def read_reports(path: str | Path) -> pd.DataFrame | None:
    """The reports in a trial's result.json (one JSON object a line; a line cut short by a
    failed write is skipped), or None when there are none."""
    rows = []
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            row.pop("config", None)
            rows.append(row)
    return pd.DataFrame(rows) if rows else None


def last_error_line(path: str | Path) -> str:
    """The last non-empty line of a trial's error.txt ("" when it has none)."""
    try:
        lines = [ln for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def folder_trials(experiment: str | Path, skip: set[str] = frozenset()) -> list[StoredTrial]:
    """Every trial folder under the local `experiment` folder but those of `skip` (trial ids),
    read without Tune's experiment state."""
    trials = []
    for d in sorted(Path(experiment).glob(f"{TRIAL_PREFIX}*")):
        trial_id = d.name[len(TRIAL_PREFIX) :]
        if not d.is_dir() or trial_id in skip:
            continue
        try:
            config = json.loads((d / "params.json").read_text())
        except (OSError, ValueError):
            config = None
        history = read_reports(d / "result.json")
        if not isinstance(config, dict):
            config = {}
        error = last_error_line(d / "error.txt")
        trials.append(
            StoredTrial(
                trial_id=trial_id,
                config=config,
                status="ERROR" if error else "",
                checkpoints=local_checkpoints(d),
                history=history,
                error=error,
                path=str(d),
            )
        )
    return trials


def merged_history(stored: pd.DataFrame | None, reported: list[dict]) -> pd.DataFrame | None:
    """A trial's stored reports, then those of `reported` (reports this driver received) that
    the stored copy lacks: the storage may lag behind, or have stopped taking writes."""
    if not reported:
        return stored
    new = pd.DataFrame([{k: v for k, v in r.items() if k != "config"} for r in reported])
    if stored is None or not len(stored):
        return new
    if not all(k in stored and k in new for k in REPORT_KEY):
        return stored if len(stored) >= len(new) else new
    seen = set(map(tuple, stored[REPORT_KEY].itertuples(index=False, name=None)))
    keep = [tuple(row) not in seen for row in new[REPORT_KEY].itertuples(index=False, name=None)]
    return pd.concat([stored, new[keep]], ignore_index=True)
