"""Ray Tune and Optuna behind one small interface: the only module of nc_core that imports them.

A study script builds a `StudySpec` (its name, a base `RunConfig`, and either an explicit list of
trials or a search space) and calls `run_study(spec, opts)`. That runs every trial as a Tune trial
of `trainable`, resumes an interrupted study when the same command runs again, and exports the
two tables of `nc_core.records` to `<results>/<study>/{epochs,layers}.parquet` (README: "Results").

Faults: a trial reports every epoch and checkpoints its `TrainState` every `checkpoint_every`
epochs and at its last; `FailureConfig` restarts a crashed trial from its last checkpoint, and
`Tuner.restore` continues an interrupted study. That checkpoint holds one record per epoch of the
lineage that survived, so the export reads records from it, not from the reported metrics (which
repeat epochs after a restore); only epochs reported after the last checkpoint come from metrics.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.fs
import ray
import torch
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from nc_core.config import RunConfig
from nc_core.fashion_mnist import LOCAL_DIR
from nc_core.records import CONFIG_COLUMNS, EPOCH_COLUMNS, LAYER_COLUMNS, EpochRecord, to_frames
from nc_core.state import load_state, save_state
from nc_core.study import (
    CONFIG_FIELDS,
    SCALARS,
    StudyOptions,
    StudySpec,
    check_study,
    storage_uri,
    study_marker,
    trial_label,
)
from nc_core.tables import write_pair
from nc_core.train import train

# Tune's config of a trial holds only what varies (the base RunConfig is the trainable's closure,
# so Tune's parameter box shows no base field beside an override of it): grid studies have
# param_space[TRIAL_KEY] = tune.grid_search([overrides, ...]), searches the sampled fields.
TRIAL_KEY = "trial"
EVERY_KEY = "_checkpoint_every"  # param keys outside RunConfig start with "_" (studies stored
FAIL_KEY = "_fail_at_epoch"  # before the base moved to the closure hold them, and the base)
STATE_FILE, META_FILE = "state.pt", "meta.json"
SAMPLERS = {"uniform": tune.uniform, "loguniform": tune.loguniform, "choice": tune.choice}


class InjectedFailure(RuntimeError):
    """Raised by `trainable` at `_fail_at_epoch` on a trial's first attempt (crash tests)."""


# ---------------------------------------------------------------------------- one trial


def trainable(
    config: dict,
    base: dict | None = None,
    every: int = 1,
    fail_at: int | None = None,
    quiet: bool = False,
    tensorboard: str | None = None,
) -> None:
    """Tune function trainable: one `train` run of `base` with the trial's `config` over it,
    resumed from Tune's checkpoint when it has one. `every`: checkpoint every N epochs;
    `fail_at`: testing, the first attempt raises InjectedFailure at this epoch; `quiet`: no INFO
    lines from Ray Train (one per checkpoint) in the driver's console; `tensorboard`: a folder
    for this trial's event files (under its trial name)."""
    if quiet:
        logging.getLogger("ray.train").setLevel(logging.WARNING)
    cfg = run_config_of(config, base)
    every, fail_at = config.get(EVERY_KEY) or every, config.get(FAIL_KEY, fail_at)
    cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
    restored = tune.get_checkpoint()
    state = None
    if restored is not None:
        with restored.as_directory() as d:
            state = load_state(Path(d) / STATE_FILE)

    board = None
    if tensorboard is not None:
        from nc_core.tensorboard import TensorBoardLogger

        board = TensorBoardLogger(tensorboard, run_name=tune.get_context().get_trial_name())

    def on_epoch(record: EpochRecord, st) -> None:
        if board is not None:
            board(record)
        if restored is None and record.epoch == fail_at:
            raise InjectedFailure(f"injected failure at epoch {fail_at} (first attempt only)")
        if st.status != "ok":
            status = st.status  # "diverged": train stops after this epoch
        else:
            status = "ok" if record.epoch == cfg.epochs else "running"
        _report(record, status, st if status != "running" or record.epoch % every == 0 else None)

    try:
        train(cfg, on_epoch=on_epoch, state=state)
    finally:
        if board is not None:
            board.close()


def _report(record: EpochRecord, status: str, state=None) -> None:
    metrics = {k: getattr(record, k) for k in SCALARS}
    metrics.update(
        layers_fixed=len(record.fixed_layers),
        fixed_layers=",".join(record.fixed_layers),
        status=status,
    )
    if state is None:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory() as d:
        save_state(state, Path(d) / STATE_FILE)
        (Path(d) / META_FILE).write_text(json.dumps({"epoch": record.epoch, "status": status}))
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


def run_config_of(config: dict, base: dict | None = None) -> RunConfig:
    """The RunConfig of a trial: `base`, then the Tune config's flat fields, then its grid
    overrides under TRIAL_KEY."""
    params = {**(base or {}), **config, **config.get(TRIAL_KEY, {})}
    return RunConfig(**{k: params[k] for k in CONFIG_FIELDS if k in params}).validate()


# ---------------------------------------------------------------------------- a whole study


@dataclass(frozen=True)
class StudyResult:
    """The exported tables of a study, each trial's status, why failed trials failed, and
    whether this run was interrupted (Ctrl-C): what the study script's exit status says."""

    epochs: pd.DataFrame
    layers: pd.DataFrame
    statuses: dict[str, str] = field(default_factory=dict)  # trial id -> status
    failures: dict[str, str] = field(default_factory=dict)  # trial id -> last error line
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """130 when interrupted (as for SIGINT), 1 when a trial ended in error, else 0."""
        return 130 if self.interrupted else 1 if self.failures else 0


def experiment_path(spec: StudySpec, opts: StudyOptions) -> str:
    """Tune's experiment directory (or URI): <storage>/<study name>."""
    return f"{storage_uri(opts).rstrip('/')}/{spec.name}"


def run_study(spec: StudySpec, opts: StudyOptions) -> StudyResult:
    """Run (or resume) the study, then export its (epochs, layers) tables.

    Every check of `check_study` runs first. Ctrl-C (SIGINT) stops the trials (Tune saves its
    state); the tables are still written, the unfinished trials as "incomplete", and the result
    says `interrupted`."""
    check_study(spec, opts)
    if opts.export_only:
        return export(spec, opts)
    path = experiment_path(spec, opts)
    _claim(spec, path)
    # With num_to_keep, Tune snapshots the experiment whenever checkpoints are deleted (so a
    # resume never points at a deleted one); with short epochs it warns about that, needlessly.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    interrupted = False
    started = False
    try:
        started = _init_ray(opts)
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
        )
        fn = tune.with_resources(fn, {"cpu": opts.cpus_per_trial, "gpu": gpus})
        print(f"study {spec.name}: {path}; each trial {opts.cpus_per_trial} CPU, {gpus} GPU")
        if tune.Tuner.can_restore(path):
            print(f"study {spec.name}: resuming (finished trials are kept)")
            tuner = tune.Tuner.restore(path, fn, resume_unfinished=True, resume_errored=True)
        else:
            tuner = tune.Tuner(
                fn,
                param_space=_param_space(spec, opts),
                tune_config=_tune_config(spec, opts),
                run_config=tune.RunConfig(
                    name=spec.name,
                    storage_path=storage_uri(opts),
                    failure_config=tune.FailureConfig(max_failures=opts.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                    verbose=opts.verbose,
                    callbacks=[TrialLines()] if opts.verbose == 0 else None,
                ),
            )
        with _console(opts.verbose):
            tuner.fit()  # the first Ctrl-C makes Tune stop the trials and return
    except KeyboardInterrupt:  # a Ctrl-C outside Tune's handler, or a second one
        interrupted = True
    finally:
        if started:
            ray.shutdown()
    if not tune.Tuner.can_restore(path):  # interrupted before Tune saved anything
        empty = pd.DataFrame(columns=EPOCH_COLUMNS + CONFIG_COLUMNS)
        return StudyResult(
            empty, pd.DataFrame(columns=LAYER_COLUMNS + CONFIG_COLUMNS), {}, {}, True
        )
    result = export(spec, opts)
    # After a completed fit every trial is finished or errored: "incomplete" means interrupted.
    interrupted = interrupted or "incomplete" in result.statuses.values()
    if interrupted:
        print(f"study {spec.name}: interrupted; rerun the same command to resume it")
    return StudyResult(result.epochs, result.layers, result.statuses, result.failures, interrupted)


def _param_space(spec: StudySpec, opts: StudyOptions) -> dict:
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


def _trial_name(trial) -> str:
    """`eps0.1-rotated-s0`: the trial's name in Tune's output, from what its config varies."""
    varying = trial.config.get(TRIAL_KEY)
    if varying is None:  # a search: the sampled fields
        varying = {k: v for k, v in trial.config.items() if k in CONFIG_FIELDS}
    return trial_label(varying)


def _trial_dirname(trial) -> str:
    return f"trial_{trial.trial_id}"


@contextlib.contextmanager
def _console(verbose: int):
    """`--verbose 0`: Tune's older console engine, silent at verbose 0 (the newer one prints its
    header and paths whatever the verbosity), and no INFO logs from Tune; `TrialLines` prints."""
    if verbose:
        yield
        return
    saved, log = os.environ.get("RAY_AIR_NEW_OUTPUT"), logging.getLogger("ray.tune")
    level = log.level
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)
        if saved is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = saved


class TrialLines(tune.Callback):
    """`--verbose 0`: one line per finished (or failed) trial, instead of Tune's tables."""

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        r = trial.last_result or {}
        print(
            f"{trial}: {r.get('status', '?')} after epoch {r.get('epoch', '?')}, test "
            f"{r.get('test_acc', float('nan')):.2%}, trainable {r.get('trainable_params', 0):,}, "
            f"fixed {r.get('fixed_layers') or '-'} ({r.get('time_total_s', 0):.0f} s)",
            flush=True,
        )

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        print(f"{trial}: failed; error in {trial.error_file}", flush=True)


def _claim(spec: StudySpec, path: str) -> None:
    """Record which study owns `path` (check_study has refused a different one there)."""
    fs, marker, mine = study_marker(spec, path)
    if fs.get_file_info(marker).type == pyarrow.fs.FileType.File:
        return
    fs.create_dir(marker.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(marker) as f:
        f.write(mine.encode())


def _init_ray(opts: StudyOptions) -> bool:
    """Start or join Ray unless this process already did; True when this call started it."""
    if ray.is_initialized():
        return False
    env = {}
    if os.environ.get("NC_DATA_DIR"):  # trials run in their own directories: pass data paths on
        env["NC_DATA_DIR"] = os.environ["NC_DATA_DIR"]
    elif (Path.cwd() / LOCAL_DIR).is_dir():
        env["NC_DATA_DIR"] = str((Path.cwd() / LOCAL_DIR).resolve())
    runtime_env = {"env_vars": env} if env else None
    if opts.local:
        _loopback_only()
        ray.init(
            address="local",
            num_cpus=opts.num_cpus,
            include_dashboard=False,
            runtime_env=runtime_env,
        )
    else:
        ray.init(address=opts.address, runtime_env=runtime_env)
    return True


def _loopback_only() -> None:
    """Make a local Ray listen on 127.0.0.1 only, not on every interface.

    Ray 2.60 ignores `ray.init(_node_ip_address="127.0.0.1")` (it maps loopback to the node's
    address) and then binds its servers to 0.0.0.0. With its Windows/macOS switch off
    (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) the node address is 127.0.0.1 and the GCS, raylet,
    object manager and every worker bind loopback alone (checked with `ss -ltnp`, and by
    tests/test_studies.py). The constant is read when Ray is imported, so this process's copy is
    set too; the processes Ray starts inherit the environment variable."""
    from ray._private import ray_constants

    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


# ---------------------------------------------------------------------------- export


def export(spec: StudySpec, opts: StudyOptions) -> StudyResult:
    """Rebuild <results>/<study>/{epochs,layers}.parquet from storage and replace both together
    (`nc_core.tables.write_pair`); print the trials that failed and why."""
    path = experiment_path(spec, opts)
    if not tune.Tuner.can_restore(path):
        raise FileNotFoundError(
            f"no stored study at {path}: run it first (without "
            "--export-only), or pass the --storage and --name it ran with"
        )
    analysis = tune.ExperimentAnalysis(path)
    history = analysis.trial_dataframes
    frames, statuses, failures = [], {}, {}
    for trial in analysis.trials:
        records, status = _trial_records(trial, history.get(trial.trial_id))
        frames.append(
            to_frames(
                records,
                run_config_of(trial.config, spec.base.to_dict()),
                study=spec.name,
                trial_id=trial.trial_id,
                status=status,
            )
        )
        statuses[trial.trial_id] = status
        if status == "error":
            failures[trial.trial_id] = _error_line(trial)
    epochs = pd.concat([e for e, _ in frames], ignore_index=True)
    layers = pd.concat([lay for _, lay in frames], ignore_index=True)
    epochs = epochs.drop_duplicates(["trial_id", "epoch"], keep="last", ignore_index=True)
    layers = layers.drop_duplicates(["trial_id", "epoch", "layer"], keep="last", ignore_index=True)
    out = Path(opts.results) / spec.name
    write_pair(epochs, layers, out / "epochs.parquet", out / "layers.parquet")
    counts = pd.Series(list(statuses.values()), dtype=str).value_counts().to_dict()
    print(
        f"study {spec.name}: trials {counts}; {len(epochs)} epoch rows, {len(layers)} layer "
        f"rows -> {out}"
    )
    if counts.get("incomplete") or counts.get("error"):
        print(f"study {spec.name}: rerun the same command to resume the unfinished trials")
    for trial_id, why in failures.items():
        print(f"study {spec.name}: trial {trial_id} failed: {why}")
    return StudyResult(epochs, layers, statuses, failures)


def _error_line(trial) -> str:
    """The last line of a failed trial's error (Tune's error.txt): the exception and message."""
    path = Path(trial.path) / "error.txt" if trial.path else None
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()] if path else []
    except OSError:
        lines = []
    return lines[-1].strip() if lines else f"see {trial.path}"


def _trial_records(trial, history: pd.DataFrame | None) -> tuple[list[EpochRecord], str]:
    """A trial's records, one per epoch (those of its last checkpoint, then any epochs reported
    after it by the newest attempt), and its status."""
    records, status = [], None
    if trial.checkpoint is not None:  # the latest one Tune recorded
        with trial.checkpoint.as_directory() as d:
            records = list(load_state(Path(d) / STATE_FILE).records)
            status = json.loads((Path(d) / META_FILE).read_text())["status"]
    if history is not None and len(history) and "epoch" in history:
        # After a restore, the history repeats epochs; the newest attempt is its longest tail
        # of strictly increasing epochs.
        epochs = history["epoch"].tolist()
        start = len(epochs) - 1
        while start > 0 and epochs[start - 1] < epochs[start]:
            start -= 1
        done = records[-1].epoch if records else 0
        later = history.iloc[start:]
        later = later[later["epoch"] > done]
        records += [_record_from_metrics(row) for row in later.to_dict("records")]
        if len(later) or status is None:
            status = history["status"].iloc[-1]
    return records, _final_status(trial.status, status, records)


def _record_from_metrics(row: dict) -> EpochRecord:
    """An EpochRecord rebuilt from reported metrics (scalars only: no layer measures)."""
    fixed = row.get("fixed_layers")
    return EpochRecord(
        **{k: row[k] for k in SCALARS},
        fixed_layers=fixed.split(",") if isinstance(fixed, str) and fixed else [],
    )


def _final_status(trial_status: str, reported: str | None, records: list[EpochRecord]) -> str:
    """ok / diverged (from train), error (failed max_failures + 1 times), stopped (by the
    scheduler), incomplete (not finished yet: interrupted, or still running)."""
    if reported == "diverged" or any(not math.isfinite(r.train_loss) for r in records):
        return "diverged"
    if reported == "ok":
        return "ok"
    return {"ERROR": "error", "TERMINATED": "stopped"}.get(trial_status, "incomplete")
