"""Whether a saved training state may continue as a given `RunConfig` (`check_resume`).

A run resumed from its `TrainState` must give the records the uninterrupted run would have given:
the same config but for its length, device and compilation, and the same learning rate at
every epoch.
"""

from __future__ import annotations

from nc_core.train.build import lr_at
from nc_core.train.config import RunConfig
from nc_core.train.state import TrainState


class ResumeError(ValueError):
    """A training state that this config must not continue (the reason is the message)."""


def check_resume(cfg: RunConfig, state: TrainState) -> None:
    """Raise ResumeError unless `state` can continue as `cfg`: the same config but for `epochs`
    and `device`; not already past `cfg.epochs`; and the same learning rate at every epoch, so
    a longer or shorter run is allowed only where the schedule does not depend on its length
    (constant, with or without warm-up)."""
    ignore = ("epochs", "device", "compile")  # compile: how the step runs, not what it computes
    try:  # a state saved by nc-core 0.1 holds its flat config: read with today's names
        old = RunConfig.from_dict(state.config)
    except (TypeError, ValueError) as err:
        raise ResumeError(f"the training state's config cannot be read ({err})") from None
    ours = {k: v for k, v in cfg.to_dict().items() if k not in ignore}
    theirs = {k: v for k, v in old.to_dict().items() if k not in ignore}
    if ours != theirs:
        diff = sorted(k for k in ours if ours[k] != theirs.get(k))
        raise ResumeError(f"the training state was made with a different config (fields {diff})")
    if state.epoch > cfg.epochs:
        raise ResumeError(
            f"the training state holds {state.epoch} epochs, past epochs={cfg.epochs}"
        )
    for epoch in range(max(old.epochs, cfg.epochs)):
        a, b = lr_at(old, epoch), lr_at(cfg, epoch)
        if a != b:
            raise ResumeError(
                f"epochs={cfg.epochs} instead of {old.epochs} changes the learning rate under "
                f"schedule={cfg.schedule!r} (epoch {epoch + 1}: {a:.3g} -> {b:.3g}); resume "
                f"with epochs={old.epochs}, or start a new run"
            )
