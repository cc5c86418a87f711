"""A whole study on Ray Tune: run or resume it, then export its tables.

A study script builds a `StudySpec` (its name, a base `RunConfig`, and either an explicit list of
trials or a search space) and calls `run_study(spec, opts)`. That runs every trial as a Tune trial
of `nc_core.tune.trainable.trainable`, resumes an interrupted study when the same command runs
again, and exports the two tables of `nc_core.results.records` to
`<results>/<study>/{epochs,layers}.parquet` (README: "Results").

Faults: a trial reports every epoch and checkpoints its `TrainState` every `checkpoint_every`
epochs and at its last; `FailureConfig` restarts a crashed trial from its last checkpoint, and
`Tuner.restore` continues an interrupted study. The tables are rebuilt from those checkpoints
and reports by `nc_core.tune.export`, written by `nc_core.study.results`. One driver runs a
study at a time (`StudyLock`, local storage); on local storage every file Tune writes appears
whole or not at all (`nc_core.tune.storage`), so a full disk or a kill never truncates the
experiment state or a checkpoint. Whatever stops Tune (a full disk, an error of Tune's own),
the driver still writes the tables from what was stored and reported, says in one line what
went wrong, and exits 1; an experiment state that cannot be read is rebuilt from the trial
folders (`nc_core.study.stored`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import ray
from ray import tune

from nc_core.registry import plugin_files
from nc_core.study.checks import (
    StudyRefused,
    check_study,
    claim,
    experiment_path,
    local_storage,
    storage_uri,
)
from nc_core.study.lock import LOCK_FILE, StudyLock
from nc_core.study.results import StudyResult, no_result
from nc_core.study.spec import StudyOptions, StudySpec
from nc_core.study.trial import trial_name
from nc_core.tune.console import console, progress_reporter, trial_lines, tune_verbosity
from nc_core.tune.export import ReportLog, export, set_aside_unreadable_state, stop_problems
from nc_core.tune.local_ray import init_ray
from nc_core.tune.prune import PruneCheckpoints
from nc_core.tune.repair import repair_dangling_checkpoints
from nc_core.tune.search import param_space, tune_config
from nc_core.tune.storage import atomic_filesystem, remove_partial_files
from nc_core.tune.trainable import trainable

SNAPSHOT_S = 2  # seconds between experiment-state snapshots (TUNE_GLOBAL_CHECKPOINT_S overrides)


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
        set_aside_unreadable_state(spec, local / spec.name)
    # The experiment state (which trials finished, each one's checkpoint) is what a resume
    # starts from, so it is snapshot every SNAPSHOT_S seconds: Tune's own "auto" period grows
    # to 10 s and more, and a driver killed then reruns trials that had finished. With short
    # epochs Tune warns about snapshots this frequent, needlessly.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", str(SNAPSHOT_S))
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
            quiet=opts.verbose < 2,
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
                param_space=param_space(spec),
                tune_config=tune_config(spec, opts, _trial_name, _trial_dirname),
                run_config=tune.RunConfig(
                    name=spec.name,
                    storage_path=storage_uri(opts),
                    storage_filesystem=fs,
                    failure_config=tune.FailureConfig(max_failures=opts.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=None),  # PruneCheckpoints
                    verbose=tune_verbosity(opts.verbose),
                    callbacks=trial_lines(opts.verbose, _trial_count(spec)),
                    progress_reporter=progress_reporter(spec),
                ),
            )
        # A restored Tuner runs the callbacks pickled with it (tuner.pkl); this run's log and the
        # pruning (also for a study stored before Tune stopped deleting checkpoints itself) join
        # them on the Tuner's own run config, there being no public way to add one.
        config = tuner._local_tuner._run_config  # noqa: SLF001
        config.callbacks = [*(config.callbacks or []), log, PruneCheckpoints()]
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
    problems = stop_problems(spec, opts, log, stopped_by)
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


# Tune pickles these two by reference (module and name) into every trial's stored state, which
# `export` and a resume unpickle: moving or renaming them makes stored studies unreadable
# (studies stored before they moved here find them through `nc_core/tune_adapter.py`).
def _trial_name(trial) -> str:
    return trial_name(trial.config)


def _trial_dirname(trial) -> str:
    return f"trial_{trial.trial_id}"


def _trial_count(spec: StudySpec) -> int:
    return len(spec.trials) if spec.trials else spec.num_samples
