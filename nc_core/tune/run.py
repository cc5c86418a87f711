"""A whole study on Ray Tune: run or resume it, then export its tables.

A study script builds a `StudySpec` (its name, a base `RunConfig`, and either an explicit list of
trials or a search space) and calls `run_study(spec, opts)`. That runs every trial as a Tune trial
of `nc_core.tune.trainable.trainable`, resumes an interrupted study when the same command runs
again, and exports the two tables of `nc_core.results.records` to
`<results>/<study>/{epochs,layers}.parquet` (README: "Results").

Faults: a trial reports every epoch and checkpoints its `TrainState` every `checkpoint_every`
epochs and at its last; `FailureConfig` restarts a crashed trial from its last checkpoint, and
`Tuner.restore` continues an interrupted study. How the tables are rebuilt from those checkpoints
and reports is `nc_core.study.results`. One driver runs a study at a time (`StudyLock`, local
storage); on local storage every file Tune writes appears whole or not at all
(`nc_core.tune.storage`), so a full disk or a kill never truncates the experiment state or a
checkpoint. Whatever stops Tune (a full disk, an error of Tune's own), the driver still writes the
tables from what was stored and reported, says in one line what went wrong, and exits 1; an
experiment state that cannot be read is rebuilt from the trial folders
(`nc_core.study.stored`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from nc_core.registry import plugin_files
from nc_core.results.atomic import device_of
from nc_core.study.checks import (
    StudyRefused,
    check_study,
    claim,
    experiment_path,
    local_storage,
    owner_stamp,
    read_marker,
    storage_uri,
)
from nc_core.study.lock import LOCK_FILE, StudyLock
from nc_core.study.results import StudyResult, no_result, write_tables
from nc_core.study.spec import StudyOptions, StudySpec
from nc_core.study.stored import (
    StoredTrial,
    folder_trials,
    last_error_line,
    local_checkpoints,
    merged_history,
    read_reports,
)
from nc_core.study.trial import TRIAL_KEY, trial_name
from nc_core.train.config import RunConfig
from nc_core.tune.console import console, progress_reporter, trial_lines, tune_verbosity
from nc_core.tune.local_ray import init_ray
from nc_core.tune.repair import repair_dangling_checkpoints
from nc_core.tune.storage import atomic_filesystem, remove_partial_files
from nc_core.tune.trainable import trainable

SAMPLERS = {"uniform": tune.uniform, "loguniform": tune.loguniform, "choice": tune.choice}


def run_study(spec: StudySpec, opts: StudyOptions) -> StudyResult:
    """Run (or resume) the study, then export its (epochs, layers) tables.

    Every check of `check_study` runs first. Ctrl-C (SIGINT) stops the trials (Tune saves its
    state); the tables are still written, the unfinished trials as "incomplete", and the result
    says `interrupted`. Another driver of the same study is refused (`StudyLocked`)."""
    check_study(spec, opts)
    if opts.export_only:
        return export(spec, opts)
    local = local_storage(opts)
    held = StudyLock(local / spec.name / LOCK_FILE) if local else contextlib.nullcontext()
    with held:
        return _run(spec, opts, local)


def _run(spec: StudySpec, opts: StudyOptions, local: Path | None) -> StudyResult:
    path = experiment_path(spec, opts)
    claim(spec, path)
    fs = None
    if local is not None:
        remove_partial_files(local / spec.name)  # of a driver killed while writing
        fs = atomic_filesystem()
        _set_aside_unreadable_state(spec, local / spec.name)
    # With num_to_keep, Tune snapshots the experiment whenever checkpoints are deleted (so a
    # resume never points at a deleted one); with short epochs it warns about that, needlessly.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    interrupted, started, stopped_by = False, False, None
    log = ReportLog()
    try:
        try:
            started = init_ray(opts)
        except ConnectionError as err:
            raise StudyRefused(f"--address {opts.address}: {' '.join(str(err).split())}") from None
        gpus = opts.gpus_per_trial
        if gpus is None:
            gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        fn = tune.with_parameters(
            trainable,
            base=spec.base.to_dict(),
            every=opts.checkpoint_every,
            fail_at=opts.fail_at_epoch,
            quiet=opts.verbose == 0,
            tensorboard=str(Path(opts.tensorboard).resolve()) if opts.tensorboard else None,
            plugins=plugin_files(),
        )
        fn = tune.with_resources(fn, {"cpu": opts.cpus_per_trial, "gpu": gpus})
        print(f"study {spec.name}: {path}; each trial {opts.cpus_per_trial} CPU, {gpus} GPU")
        if tune.Tuner.can_restore(path):
            print(f"study {spec.name}: resuming (finished trials are kept)")
            for where in repair_dangling_checkpoints(path):  # a kill mid-deletion left these
                print(
                    f"study {spec.name}: restored the deleted checkpoint {where} from a newer one"
                )
            tuner = tune.Tuner.restore(
                path, fn, resume_unfinished=True, resume_errored=True, storage_filesystem=fs
            )
        else:
            tuner = tune.Tuner(
                fn,
                param_space=_param_space(spec),
                tune_config=_tune_config(spec, opts),
                run_config=tune.RunConfig(
                    name=spec.name,
                    storage_path=storage_uri(opts),
                    storage_filesystem=fs,
                    failure_config=tune.FailureConfig(max_failures=opts.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                    verbose=tune_verbosity(opts.verbose),
                    callbacks=trial_lines(opts.verbose),
                    progress_reporter=progress_reporter(spec),
                ),
            )
        # A restored Tuner runs the callbacks pickled with it (tuner.pkl); this run's log joins
        # them on the Tuner's own run config, there being no public way to add one.
        config = tuner._local_tuner._run_config  # noqa: SLF001
        config.callbacks = [*(config.callbacks or []), log]
        with console(opts.verbose):
            try:
                tuner.fit()  # the first Ctrl-C makes Tune stop the trials and return
            except Exception as err:  # whatever stopped Tune, the tables are still written
                stopped_by = err
    except KeyboardInterrupt:  # a Ctrl-C outside Tune's handler, or a second one
        interrupted = True
    finally:
        if started:
            ray.shutdown()
    problems = _problems(spec, opts, log, stopped_by)
    if not tune.Tuner.can_restore(path) and not log.reports:
        if problems:  # nothing stored: what stopped it is all there is to say
            for line in problems:
                print(f"study {spec.name}: {line}")
            empty = no_result()
            return StudyResult(empty.epochs, empty.layers, problems=tuple(problems))
        return no_result()  # interrupted before Tune saved anything
    result = export(spec, opts, log=log, problems=tuple(problems))
    # After a completed fit every trial is finished or errored: "incomplete" means interrupted.
    interrupted = interrupted or (not problems and "incomplete" in result.statuses.values())
    if interrupted:
        print(f"study {spec.name}: interrupted; rerun the same command to resume it")
    return StudyResult(
        result.epochs,
        result.layers,
        result.statuses,
        result.failures,
        interrupted,
        result.problems,
    )


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


def _no_space(text: str) -> bool:
    return "No space left on device" in text or f"[Errno {errno.ENOSPC}]" in text


def _problems(
    spec: StudySpec, opts: StudyOptions, log: ReportLog, stopped_by: Exception | None
) -> list[str]:
    """One line for what went wrong besides trials failing: a full storage device (named, in
    whatever form the failure arrived), or an error that stopped Tune."""
    texts = list(log.errors.values())
    if stopped_by is not None:
        texts.append(f"{type(stopped_by).__name__}: {stopped_by}")
    local = local_storage(opts)
    if any(_no_space(t) for t in texts) or (
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


def _set_aside_unreadable_state(spec: StudySpec, folder: Path) -> None:
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


def _param_space(spec: StudySpec) -> dict:
    """What varies between trials, and nothing else (the base goes to `trainable` as `base`)."""
    if spec.trials:
        return {TRIAL_KEY: tune.grid_search([dict(t) for t in spec.trials])}
    return {k: SAMPLERS[d](*args) for k, (d, *args) in spec.space.items()}


def _tune_config(spec: StudySpec, opts: StudyOptions) -> tune.TuneConfig:
    searcher = scheduler = None
    if spec.space:
        metrics, modes = [list(x) for x in zip(*spec.objectives, strict=True)]
        searcher = OptunaSearch(
            metric=metrics if len(metrics) > 1 else metrics[0],
            mode=modes if len(modes) > 1 else modes[0],
            seed=opts.seed,
        )
    if opts.scheduler == "asha":
        metric, mode = spec.objectives[0]
        scheduler = ASHAScheduler(
            metric=metric,
            mode=mode,
            max_t=spec.base.epochs,
            grace_period=max(1, spec.base.epochs // 4),
        )
    return tune.TuneConfig(
        search_alg=searcher,
        scheduler=scheduler,
        num_samples=spec.num_samples if spec.space else 1,
        max_concurrent_trials=opts.max_concurrent,
        reuse_actors=True,  # a new trial skips the imports: ~3 s each
        trial_name_creator=_trial_name,
        trial_dirname_creator=_trial_dirname,
    )


# Tune pickles these two by reference (module and name) into every trial's stored state, which
# `export` and a resume unpickle: moving or renaming them makes stored studies unreadable
# (studies stored before they moved here find them through `nc_core/tune_adapter.py`).
def _trial_name(trial) -> str:
    return trial_name(trial.config)


def _trial_dirname(trial) -> str:
    return f"trial_{trial.trial_id}"
