"""What Tune prints while a study runs, at each `--verbose` level.

0: one line per finished trial (`TrialLines`: its name, status, last epoch, final accuracies as
fractions, trainable parameters, layers fixed, seconds) and nothing from Tune or Ray Train.
1 (the default): those lines under a progress bar of the whole study (tqdm, drawn only on a
terminal, so a log file gets the lines alone). 2: Tune's own progress table, each trial a row:
its name (`eps0.1-rotated-s0`), Tune's status, the fields it overrides (one column each,
`override_columns`) and a few metrics of its last epoch, refreshed every 5 s; Tune's and Ray
Train's INFO logs; and one line per trial per epoch (`TrialLines(every_epoch=True)`).

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
from tqdm.auto import tqdm

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
    """Tune's own verbosity for `--verbose`: its table at 2 only; the per-epoch lines are
    `TrialLines`', not Tune's (throttled to one per trial every 5 s, each with the whole
    config)."""
    return 1 if verbose == 2 else 0


def trial_lines(verbose: int, total: int) -> list[tune.Callback]:
    """The callbacks that print our lines at `--verbose`, for a study of `total` trials."""
    return [TrialLines(every_epoch=verbose == 2, bar_total=total if verbose == 1 else None)]


@contextlib.contextmanager
def console(verbose: int) -> Iterator[None]:
    """Tune's older console engine while the study runs (see the module docstring); below
    `--verbose 2` also no INFO logs from Tune."""
    saved, log = os.environ.get("RAY_AIR_NEW_OUTPUT"), logging.getLogger("ray.tune")
    level = log.level
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    if verbose < 2:
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
    """One line per finished (or failed) trial and, with `every_epoch`, per reported epoch;
    with `bar_total`, under a tqdm bar of that many trials (drawn on a terminal only)."""

    def __init__(self, every_epoch: bool = False, bar_total: int | None = None) -> None:
        self.every_epoch = every_epoch
        self.bar_total = bar_total
        self.bar: tqdm | None = None

    def setup(self, **info: Any) -> None:
        """Open the bar of the whole study (`info`: Tune's experiment details). A TrialLines
        pickled by an older version (a restored study's) has neither attribute: no bar."""
        self.bar = None
        if getattr(self, "bar_total", None) is not None:
            self.bar = tqdm(total=self.bar_total, unit="trial", disable=None, dynamic_ncols=True)

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        """Close the bar (`trials`: every trial; `info`: extras)."""
        if getattr(self, "bar", None) is not None:
            self.bar.close()

    def _print(self, line: str, *, done: bool = False) -> None:
        if getattr(self, "bar", None) is None:
            print(line, flush=True)
            return
        self.bar.write(line)
        if done:
            self.bar.update(1)

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info: Any
    ) -> None:
        """With `every_epoch`, print `trial`'s line for the epoch it reported in `result`.
        `iteration`, `trials` and `info` are Tune's loop step, every trial and extras."""
        if self.every_epoch:
            self._print(
                f"{trial}: epoch {result.get('epoch', '?')}, train_loss "
                f"{result.get('train_loss', float('nan')):.4g}, {_summary(result)}"
            )

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """Print the line of finished `trial`: its status, last epoch and summary. `iteration`,
        `trials` and `info` are Tune's loop step, every trial and extras."""
        r = trial.last_result or {}
        self._print(
            f"{trial}: {r.get('status', '?')} after epoch {r.get('epoch', '?')}, "
            f"{_summary(r)} ({r.get('time_total_s', 0):.0f} s)",
            done=True,
        )

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        """Print that `trial` failed and where its error is. `iteration`, `trials` and `info`
        are Tune's loop step, every trial and extras."""
        self._print(f"{trial}: failed; error in {trial.error_file}", done=True)


def _summary(r: dict) -> str:
    """Final accuracies as fractions, the unit of the tables; trainable parameters; layers."""
    nan = float("nan")
    return (
        f"train_acc {r.get('train_acc', nan):.4f}, test_acc {r.get('test_acc', nan):.4f}, "
        f"trainable {r.get('trainable_params', 0):,}, fixed {r.get('fixed_layers') or '-'}"
    )
