"""TensorBoard logging of a run: per-epoch scalars, per-layer NCC and NC1, and its HParams.

An on-epoch callback for `nc_core.train.train` (and a Tune trainable), writing event files
with `torch.utils.tensorboard.SummaryWriter`, so `tensorboard --logdir DIR` shows a run next
to the others. TensorBoard is an optional extra (`pip install -e '.[tb]'`); importing this
module works without it, and `TensorBoardLogger` raises a message saying how to install it.

    with TensorBoardLogger("runs/tb", run_name="eps0.1-canonical-s0", hparams=cfg.to_dict()) as log:
        train(cfg, on_epoch=log)

With `hparams` (a run's flat config), the run also appears in TensorBoard's HParams dashboard,
one row per run with its configuration beside the final values of `HPARAM_METRICS`, so runs
can be sorted and filtered by any field there.
"""

from __future__ import annotations

import math
from pathlib import Path

from nc_core.results.records import EpochRecord

# Per-epoch scalars, as tag -> EpochRecord field.
EPOCH_SCALARS = {
    "accuracy/train": "train_acc",
    "accuracy/test": "test_acc",
    "loss/train": "train_loss",
    "loss/test": "test_loss",
    "params/trainable": "trainable_params",
    "lr": "epoch_lr",
    "time/epoch_seconds": "epoch_seconds",
    "predictions/classes": "pred_classes",
    "predictions/entropy": "pred_entropy",
}
# The scalars the HParams dashboard shows beside each run's configuration (their last values).
HPARAM_METRICS = ("accuracy/test", "accuracy/train", "params/trainable", "params/layers_fixed")
# Per-layer measures, as tag prefix -> LayerRecord field; the tag is "<prefix>/<layer>".
LAYER_SCALARS = {"ncc_train": "train_ncc_acc", "ncc_test": "test_ncc_acc", "nc1": "nc1"}


def _writer(log_dir: str):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:  # torch imports tensorboard lazily, here
        raise ImportError(
            "TensorBoard logging needs the tensorboard package: pip install -e '.[tb]' "
            "(or pip install tensorboard)"
        ) from err
    return SummaryWriter(log_dir=log_dir)


def check_tensorboard(log_dir: str | Path, *, flag: str = "--tensorboard") -> None:
    """Raise ValueError, before any work, when event files cannot be written to `log_dir`:
    TensorBoard is not installed, or the folder is not writable."""
    import importlib.util

    from nc_core.results.atomic import check_writable

    if importlib.util.find_spec("tensorboard") is None:
        raise ValueError(
            f"{flag} {log_dir}: needs the tensorboard package (pip install -e '.[tb]')"
        )
    check_writable(log_dir, flag=flag, directory=True)


class TensorBoardLogger:
    """`logger(record, state=None)` writes one epoch to `<log_dir>/<run_name>` (or `log_dir`).

    Scalars are written at step = record.epoch; NaN values (a measure not taken this epoch)
    and layers not measured are skipped. `layers_fixed` counts the layers fixed during the
    epoch. Close it (or use it as a context manager) to flush the event file.
    """

    def __init__(
        self, log_dir: str | Path, *, run_name: str | None = None, hparams: dict | None = None
    ):
        """Event files go to `log_dir`/`run_name` (or `log_dir`); `hparams`: the run's flat
        config (`RunConfig.to_dict()`), written once for the HParams dashboard."""
        path = Path(log_dir) / run_name if run_name else Path(log_dir)
        self.log_dir = path
        self.writer = _writer(str(path))
        if hparams is not None:
            self._hparams(hparams)

    def _hparams(self, config: dict) -> None:
        """The HParams summaries of this run, in its own event file (not the subfolder that
        `SummaryWriter.add_hparams` makes): the config, and `HPARAM_METRICS` as its metrics,
        whose values are the scalars this logger writes every epoch."""
        from torch.utils.tensorboard.summary import hparams

        values = {k: _hparam_value(v) for k, v in config.items()}
        for summary in hparams(values, dict.fromkeys(HPARAM_METRICS, 0.0)):
            self.writer.file_writer.add_summary(summary)

    def __call__(self, record: EpochRecord, state=None) -> None:
        step = record.epoch
        for tag, name in EPOCH_SCALARS.items():
            self._scalar(tag, getattr(record, name), step)
        self._scalar("params/layers_fixed", len(record.fixed_layers), step)
        for layer, measures in record.layers.items():
            for prefix, name in LAYER_SCALARS.items():
                self._scalar(f"{prefix}/{layer}", getattr(measures, name), step)
        self.writer.flush()

    def _scalar(self, tag: str, value, step: int) -> None:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return
        if tag == "predictions/classes" and value < 0:  # -1: not measured
            return
        self.writer.add_scalar(tag, float(value), step)

    def close(self) -> None:
        """Flush and close the event files."""
        self.writer.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _hparam_value(value) -> int | float | str:
    """A config value as HParams shows it: numbers, and text for the rest (a boolean as "True"
    or "False", which torch would otherwise write as the number 1 or 0; None as "none")."""
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    return "none" if value is None else str(value)
