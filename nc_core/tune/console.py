"""What Tune prints while a study runs, at each `--verbose` level.

`console(verbose)` wraps `Tuner.fit`; at `--verbose 0` the `TrialLines` callback prints one line
per finished trial instead of Tune's tables.
"""

from __future__ import annotations

import contextlib
import logging
import os

from ray import tune


@contextlib.contextmanager
def console(verbose: int):
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
