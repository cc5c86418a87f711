"""One study trial as a Tune function trainable: a `train` run that reports every epoch,
checkpoints its `TrainState`, and resumes from Tune's checkpoint after a crash.

What it reports and writes is `nc_core.study.results` (`reported_metrics`, `write_checkpoint`),
which also reads it back; this module only hands it to Tune.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import torch
from ray import tune

from nc_core.registry import load_plugins
from nc_core.results.records import EpochRecord
from nc_core.study.results import STATE_FILE, reported_metrics, write_checkpoint
from nc_core.study.trial import EVERY_KEY, FAIL_KEY, run_config_of
from nc_core.train.loop import train
from nc_core.train.state import load_state


class InjectedFailure(RuntimeError):
    """Raised by `trainable` at `_fail_at_epoch` on a trial's first attempt (crash tests)."""


def trainable(
    config: dict,
    base: dict | None = None,
    every: int = 1,
    fail_at: int | None = None,
    quiet: bool = False,
    tensorboard: str | None = None,
    plugins: list[str] | None = None,
) -> None:
    """Tune function trainable: one `train` run of `base` with the trial's `config` over it,
    resumed from Tune's checkpoint when it has one. `every`: checkpoint every N epochs;
    `fail_at`: testing, the first attempt raises InjectedFailure at this epoch; `quiet`: no INFO
    lines from Ray Train (one per checkpoint) in the driver's console; `tensorboard`: a folder
    for this trial's event files (under its trial name); `plugins`: files of the modules outside
    nc_core that registered models or datasets in the driver, imported here first."""
    load_plugins(plugins or [])
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
        from nc_core.results.tensorboard import TensorBoardLogger

        board = TensorBoardLogger(
            tensorboard, run_name=tune.get_context().get_trial_name(), hparams=cfg.to_dict()
        )

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
    metrics = reported_metrics(record, status)
    if state is None:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory() as d:
        write_checkpoint(Path(d), state, record, status)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
