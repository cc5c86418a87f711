"""Training: one run's configuration (`config`, `presets`), what it is built from (`build`), the
epoch loop (`loop`), the training step (`step`), its resumable state (`state`, `resume`).

`python -m nc_core.train` is its command line (`nc_core.cli.train`); from Python:

    from nc_core.train import preset, train
    result = train(preset("smoke", dataset="synthetic"))

The names below are loaded on first use, so importing `nc_core.train.config` alone (as the
result tables do) does not load the training loop and its model zoo.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "RunConfig": "nc_core.train.config",
    "RunResult": "nc_core.train.loop",
    "train": "nc_core.train.loop",
    "PRESETS": "nc_core.train.presets",
    "preset": "nc_core.train.presets",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'nc_core.train' has no attribute {name!r}")
