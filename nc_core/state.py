"""A training run's whole state after an epoch, and its save/load as one checkpoint file.

Everything is tensors and plain Python containers, so `torch.load(..., weights_only=True)` reads
it back: no pickled classes. Loading the state into a fresh process and training on gives the
same records as never stopping (tested).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from nc_core.atomic import write_atomic
from nc_core.records import EpochRecord

STATE_VERSION = 2  # 2: records carry the measures and columns of issue 9


@dataclass
class TrainState:
    """The run after `epoch` completed epochs.

    fixed: linear name -> kind for every fixed linear (to rebuild the model's structure);
    fixed_layers: measured layer -> epoch at whose end it was fixed (0: before training).
    """

    config: dict
    epoch: int = 0
    status: str = "ok"
    model: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)
    policy: dict = field(default_factory=dict)
    fixed: dict[str, str] = field(default_factory=dict)
    fixed_layers: dict[str, int] = field(default_factory=dict)
    records: list[EpochRecord] = field(default_factory=list)
    rng: dict = field(default_factory=dict)


def save_state(state: TrainState, path: str | os.PathLike) -> Path:
    """Write `state` atomically (a temp file, then a rename)."""
    payload = {**asdict(state), "version": STATE_VERSION}
    return write_atomic(path, lambda tmp: torch.save(payload, tmp))


def load_state(path: str | os.PathLike) -> TrainState:
    """Read a state written by `save_state` (tensors on the CPU)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    version = payload.pop("version", None)
    if version != STATE_VERSION:
        raise ValueError(
            f"{path}: training-state version {version}, this code reads {STATE_VERSION}"
        )
    payload["records"] = [EpochRecord.from_dict(r) for r in payload["records"]]
    return TrainState(**payload)
