"""What Tune prints while a study runs, at each `--verbose` level.

0: one line per finished trial (`TrialLines`) and nothing from Tune. 1: Tune's progress table,
each trial a row: its name (`eps0.1-rotated-s0`), Tune's status, the fields it overrides (one
column each, `override_columns`) and a few metrics of its last epoch. 2: that table, and one
line per trial per epoch (`TrialLines(every_epoch=True)`).

Every level runs Tune's older console engine (`RAY_AIR_NEW_OUTPUT=0`), because Ray 2.60's newer
one ignores `RunConfig(progress_reporter=...)` ("AIR_VERBOSITY is set, ignoring passed-in
ProgressReporter") and picks its parameter columns from the param_space itself: for a grid that
is the one `TRIAL_KEY`, a dict of overrides cut to 20 characters (`...: 0.1, 'seed': 0}`) beside
a trial name that says the same. The newer engine also prints its header and paths at verbose 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ray import tune

from nc_core.study.spec import StudySpec
from nc_core.study.trial import override_columns

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

# Reported metric -> column header ("outcome": ok, running or diverged, beside Tune's status)
METRIC_COLUMNS = {
    "epoch": "epoch",
    "train_loss": "train_loss",
    "test_acc": "test_acc",
    "trainable_params": "trainable",
    "layers_fixed": "fixed",
    "status": "outcome",
}


def progress_reporter(spec: StudySpec) -> tune.CLIReporter:
    """Tune's progress table for `spec`: its overrides and METRIC_COLUMNS beside each name.

    `print_intermediate_tables` is set, not left to Tune: left unset, CLIReporter reads Tune's
    process-wide verbosity when it is built, which is whatever the previous study of the same
    process left (after a `--verbose 0` study, no table at all)."""
    return tune.CLIReporter(
        parameter_columns=override_columns(spec),
        metric_columns=METRIC_COLUMNS,
        print_intermediate_tables=True,
    )


def tune_verbosity(verbose: int) -> int:
    """Tune's own verbosity for `--verbose`: at 2 the per-epoch lines are `TrialLines`', not
    Tune's (throttled to one per trial every 5 s, each with the whole config)."""
    return min(verbose, 1)


def trial_lines(verbose: int) -> list[tune.Callback]:
    """The callbacks that print our lines at `--verbose` (none at 1: the table alone)."""
    return [] if verbose == 1 else [TrialLines(every_epoch=verbose == 2)]


@contextlib.contextmanager
def console(verbose: int) -> Iterator[None]:
    """Tune's older console engine while the study runs (see the module docstring); at
    `--verbose 0` also no INFO logs from Tune."""
    saved, log = os.environ.get("RAY_AIR_NEW_OUTPUT"), logging.getLogger("ray.tune")
    level = log.level
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    if verbose == 0:
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
    """One line per finished (or failed) trial and, with `every_epoch`, per reported epoch."""

    def __init__(self, every_epoch: bool = False) -> None:
        self.every_epoch = every_epoch

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info: Any
    ) -> None:
        """With `every_epoch`, print `trial`'s line for the epoch it reported in `result`.
        `iteration`, `trials` and `info` are Tune's loop step, every trial and extras."""
        if self.every_epoch:
            print(
                f"{trial}: epoch {result.get('epoch', '?')}, train loss "
                f"{result.get('train_loss', float('nan')):.4g}, {_summary(result)}",
                flush=True,
            )

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """Print the line of finished `trial`: its status, last epoch and summary. `iteration`,
        `trials` and `info` are Tune's loop step, every trial and extras."""
        r = trial.last_result or {}
        print(
            f"{trial}: {r.get('status', '?')} after epoch {r.get('epoch', '?')}, "
            f"{_summary(r)} ({r.get('time_total_s', 0):.0f} s)",
            flush=True,
        )

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """Print that `trial` failed and where its error is. `iteration`, `trials` and `info`
        are Tune's loop step, every trial and extras."""
        print(f"{trial}: failed; error in {trial.error_file}", flush=True)


def _summary(r: dict) -> str:
    return (
        f"test {r.get('test_acc', float('nan')):.2%}, trainable {r.get('trainable_params', 0):,}, "
        f"fixed {r.get('fixed_layers') or '-'}"
    )
