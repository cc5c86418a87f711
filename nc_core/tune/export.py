"""A study's tables rebuilt from its Tune storage, and what this driver heard from Tune.

`export` reads every trial of a stored experiment (Tune's experiment state, the trial folders of
local storage, and `ReportLog`: the reports this driver received, which survive a storage that
stopped taking writes) and hands them to `nc_core.study.results.write_tables`. The settings come
from the stored study alone (`nc_core.study.checks.read_marker`), never from the command line.
`stop_problems` turns what stopped a run (a full disk, an error of Tune's) into one line.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

from ray import tune

from nc_core.results.atomic import device_of
from nc_core.study.checks import (
    StudyRefused,
    experiment_path,
    local_storage,
    owner_stamp,
    read_marker,
)
from nc_core.study.results import StudyResult, write_tables
from nc_core.study.spec import StudyOptions, StudySpec
from nc_core.study.stored import (
    StoredTrial,
    folder_trials,
    last_error_line,
    local_checkpoints,
    merged_history,
    read_reports,
)
from nc_core.train.config import RunConfig


class ReportLog(tune.Callback):
    """What this driver heard from Tune: every trial's reports, config and last error line, so
    the tables hold every reported epoch even when the storage stopped taking writes."""

    def __init__(self) -> None:
        self.reports: dict[str, list[dict]] = {}
        self.configs: dict[str, dict] = {}
        self.errors: dict[str, str] = {}
        self.paths: dict[str, str] = {}
        self.ended: dict[str, str] = {}  # trial id -> Tune's status when it ended in this run

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        """Keep `trial`'s report `result` (`iteration`, `trials`, `info`: Tune's loop step,
        every trial, extras)."""
        self.reports.setdefault(trial.trial_id, []).append(
            {k: v for k, v in result.items() if k != "config"}
        )
        self.configs[trial.trial_id] = dict(trial.config)
        self.paths[trial.trial_id] = trial.path or ""

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """Keep the last line of failed `trial`'s error (read from the driver's own copy)."""
        self.errors[trial.trial_id] = last_error_line(trial.error_file or "")
        self.configs[trial.trial_id] = dict(trial.config)
        self.paths[trial.trial_id] = trial.path or ""
        self.ended[trial.trial_id] = "ERROR"

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """Note that `trial` finished in this run."""
        self.ended[trial.trial_id] = "TERMINATED"


def no_space(text: str) -> bool:
    """Whether the error `text` says a device was full."""
    return "No space left on device" in text or f"[Errno {errno.ENOSPC}]" in text


def stop_problems(
    spec: StudySpec, opts: StudyOptions, log: ReportLog, stopped_by: Exception | None
) -> list[str]:
    """One line for what went wrong besides trials failing: a full storage device (named, in
    whatever form the failure arrived), or an error that stopped Tune."""
    texts = list(log.errors.values())
    if stopped_by is not None:
        texts.append(f"{type(stopped_by).__name__}: {stopped_by}")
    local = local_storage(opts)
    if any(no_space(t) for t in texts) or (
        isinstance(stopped_by, OSError) and stopped_by.errno == errno.ENOSPC
    ):
        where = device_of(local) if local is not None else opts.storage
        return [
            f"no space left on {where}, the device of --storage {opts.storage}: trials could "
            "not save their checkpoints. The tables hold every epoch reported so far; free "
            "space there, then rerun the same command to resume"
        ]
    if stopped_by is not None:
        first = " ".join(f"{type(stopped_by).__name__}: {stopped_by}".split())[:300]
        return [f"Tune stopped: {first}; rerun the same command to resume"]
    return []


def set_aside_unreadable_state(spec: StudySpec, folder: Path) -> None:
    """Tune resumes from the newest experiment state file: one that cannot be read (cut short
    by an older version's write to a full disk) is renamed aside so that Tune takes the one
    before it; StudyRefused when no readable one is left to resume from."""
    states = sorted(folder.glob("experiment_state-*.json"))
    bad = []
    for state in reversed(states):
        try:
            json.loads(state.read_text())
            break
        except (OSError, ValueError):
            bad.append(state)
    else:
        if not states:
            return
        raise StudyRefused(
            f"--name {spec.name}: Tune's experiment state in {folder} cannot be read (cut short "
            "by a failed write); --export-only still writes the tables (from the trial "
            "folders); to train again, pass another --name"
        )
    for state in bad:
        state.rename(state.with_name(state.name + ".unreadable"))
        print(f"study {spec.name}: {state.name} cannot be read; resuming from an older state")


def export(
    spec: StudySpec,
    opts: StudyOptions,
    *,
    log: ReportLog | None = None,
    problems: tuple[str, ...] = (),
) -> StudyResult:
    """Rebuild <results>/<study>/{epochs,layers}.parquet from the study's Tune storage
    (`nc_core.study.results.write_tables`), its settings read from the stored study alone;
    with `log`, this driver's own record of the reports too."""
    path = experiment_path(spec, opts)
    stored = read_marker(path)
    base = RunConfig.from_dict(stored["base"]).to_dict() if stored else spec.base.to_dict()
    trials, notes = stored_trials(path, local_storage(opts), log or ReportLog())
    return write_tables(
        spec.name,
        base,
        opts.results,
        trials,
        owner=owner_stamp(path),
        problems=(*notes, *problems),
    )


def stored_trials(
    path: str, local: Path | None, log: ReportLog
) -> tuple[list[StoredTrial], list[str]]:
    """Every trial of the experiment at `path`: those of Tune's experiment state, those found
    only as trial folders (local storage), those only `log` heard of; and a note when the
    experiment state could not be read."""
    notes, trials = [], []
    folder = local / Path(path).name if local is not None else None
    try:
        analysis = tune.ExperimentAnalysis(path)
        known = analysis.trials
    except Exception as err:  # a truncated or unreadable state: the trial folders remain
        if folder is None:
            raise
        reason = " ".join(f"{type(err).__name__}: {err}".split())[:200]
        notes.append(
            f"Tune's experiment state in {folder} cannot be read ({reason}); the tables are "
            "rebuilt from the trial folders"
        )
        analysis, known = None, []
    for trial in known:
        history = _history(analysis, trial)
        stored = StoredTrial(
            trial_id=trial.trial_id,
            config=dict(trial.config),
            status=log.ended.get(trial.trial_id, trial.status),  # the state saved may lag
            checkpoints=(
                local_checkpoints(trial.path)
                if folder is not None and trial.path
                else ((trial.checkpoint,) if trial.checkpoint is not None else ())
            ),
            history=merged_history(history, log.reports.get(trial.trial_id, [])),
            error=_error_line(trial) or log.errors.get(trial.trial_id, ""),
            path=trial.path or "",
        )
        trials.append(stored)
    seen = {t.trial_id for t in trials}
    if folder is not None:
        for trial in folder_trials(folder, skip=seen):
            trials.append(_with_log(trial, log))
        seen = {t.trial_id for t in trials}
    for trial_id in [t for t in log.configs if t not in seen]:
        trials.append(
            _with_log(StoredTrial(trial_id=trial_id, config=log.configs[trial_id], path=""), log)
        )
    return trials, notes


def _with_log(trial: StoredTrial, log: ReportLog) -> StoredTrial:
    """`trial` with what `log` heard of it: reports its folder lacks, its error, its config."""
    error = trial.error or log.errors.get(trial.trial_id, "")
    return StoredTrial(
        trial_id=trial.trial_id,
        config=trial.config or log.configs.get(trial.trial_id, {}),
        status=log.ended.get(trial.trial_id, trial.status or ("ERROR" if error else "")),
        checkpoints=trial.checkpoints,
        history=merged_history(trial.history, log.reports.get(trial.trial_id, [])),
        error=error,
        path=trial.path,
    )


def _history(analysis: Any, trial: Any):
    """A Tune trial's reports as stored: Tune's reading of them, else its result.json read
    line by line (a line cut short is skipped)."""
    try:
        return analysis.trial_dataframes.get(trial.trial_id)
    except Exception:  # a result file Tune cannot parse
        return read_reports(Path(trial.path) / "result.json") if trial.path else None


def _error_line(trial: Any) -> str:
    """The last line of a failed Tune `trial`'s error (Tune's error.txt)."""
    if trial.status != "ERROR" or not trial.path:
        return ""
    return last_error_line(Path(trial.path) / "error.txt")
