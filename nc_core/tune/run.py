"""A whole study on Ray Tune: run or resume it, then export its tables.

A study script builds a `StudySpec` (its name, a base `RunConfig`, and either an explicit list of
trials or a search space) and calls `run_study(spec, opts)`. That runs every trial as a Tune trial
of `nc_core.tune.trainable.trainable`, resumes an interrupted study when the same command runs
again, and exports the two tables of `nc_core.results.records` to
`<results>/<study>/{epochs,layers}.parquet` (README: "Results").

Faults: a trial reports every epoch and checkpoints its `TrainState` every `checkpoint_every`
epochs and at its last; `FailureConfig` restarts a crashed trial from its last checkpoint, and
`Tuner.restore` continues an interrupted study. How the tables are rebuilt from those checkpoints
and reports is `nc_core.study.results`.
"""

from __future__ import annotations

import os
from pathlib import Path

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from nc_core.registry import plugin_files
from nc_core.study.checks import check_study, claim, experiment_path, storage_uri
from nc_core.study.results import StudyResult, no_result, write_tables
from nc_core.study.spec import StudyOptions, StudySpec
from nc_core.study.trial import TRIAL_KEY, trial_name
from nc_core.tune.console import console, progress_reporter, trial_lines, tune_verbosity
from nc_core.tune.local_ray import init_ray
from nc_core.tune.trainable import trainable

SAMPLERS = {"uniform": tune.uniform, "loguniform": tune.loguniform, "choice": tune.choice}


def run_study(spec: StudySpec, opts: StudyOptions) -> StudyResult:
    """Run (or resume) the study, then export its (epochs, layers) tables.

    Every check of `check_study` runs first. Ctrl-C (SIGINT) stops the trials (Tune saves its
    state); the tables are still written, the unfinished trials as "incomplete", and the result
    says `interrupted`."""
    check_study(spec, opts)
    if opts.export_only:
        return export(spec, opts)
    path = experiment_path(spec, opts)
    claim(spec, path)
    # With num_to_keep, Tune snapshots the experiment whenever checkpoints are deleted (so a
    # resume never points at a deleted one); with short epochs it warns about that, needlessly.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    interrupted = False
    started = False
    try:
        started = init_ray(opts)
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
            tuner = tune.Tuner.restore(path, fn, resume_unfinished=True, resume_errored=True)
        else:
            tuner = tune.Tuner(
                fn,
                param_space=_param_space(spec),
                tune_config=_tune_config(spec, opts),
                run_config=tune.RunConfig(
                    name=spec.name,
                    storage_path=storage_uri(opts),
                    failure_config=tune.FailureConfig(max_failures=opts.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                    verbose=tune_verbosity(opts.verbose),
                    callbacks=trial_lines(opts.verbose),
                    progress_reporter=progress_reporter(spec),
                ),
            )
        with console(opts.verbose):
            tuner.fit()  # the first Ctrl-C makes Tune stop the trials and return
    except KeyboardInterrupt:  # a Ctrl-C outside Tune's handler, or a second one
        interrupted = True
    finally:
        if started:
            ray.shutdown()
    if not tune.Tuner.can_restore(path):  # interrupted before Tune saved anything
        return no_result()
    result = export(spec, opts)
    # After a completed fit every trial is finished or errored: "incomplete" means interrupted.
    interrupted = interrupted or "incomplete" in result.statuses.values()
    if interrupted:
        print(f"study {spec.name}: interrupted; rerun the same command to resume it")
    return StudyResult(result.epochs, result.layers, result.statuses, result.failures, interrupted)


def export(spec: StudySpec, opts: StudyOptions) -> StudyResult:
    """Rebuild <results>/<study>/{epochs,layers}.parquet from the study's Tune storage
    (`nc_core.study.results.write_tables`)."""
    path = experiment_path(spec, opts)
    if not tune.Tuner.can_restore(path):
        raise FileNotFoundError(
            f"no stored study at {path}: run it first (without "
            "--export-only), or pass the --storage and --name it ran with"
        )
    analysis = tune.ExperimentAnalysis(path)
    return write_tables(spec, opts, analysis.trials, analysis.trial_dataframes)


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
