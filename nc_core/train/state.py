"""A training run's whole state after an epoch, and its save/load as one checkpoint file.

Everything is tensors and plain Python containers, so `torch.load(..., weights_only=True)` reads
it back: no pickled classes. The file is one header line, `NCSTATE sha256 <hex digest>`, then the
`torch.save` bytes it is the digest of: a truncated, empty or altered file (a flipped byte in
tensor data included) is refused by `load_state` with a `CheckpointError`, never loaded. Loading
the state into a fresh process and training on gives the same records as never stopping (tested).
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from nc_core.results.atomic import write_atomic
from nc_core.results.records import EpochRecord

STATE_VERSION = 3  # 2: records carry CDNV, ranks, dead units, fixed_at_end; 3: checksum header
MAGIC = b"NCSTATE"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be loaded: unreadable, corrupt, or of another version."""


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
    """Write `state` atomically (a temp file, then a rename), with its sha256 in the header."""
    buf = io.BytesIO()
    torch.save({**asdict(state), "version": STATE_VERSION}, buf)
    data = buf.getvalue()
    header = b"%s sha256 %s\n" % (MAGIC, hashlib.sha256(data).hexdigest().encode())
    return write_atomic(path, lambda tmp: Path(tmp).write_bytes(header + data))


def _corrupt(path, reason: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint {path} is unreadable or corrupt ({reason}); delete it or pass another"
    )


def load_state(path: str | os.PathLike) -> TrainState:
    """Read a state written by `save_state` (tensors on the CPU); CheckpointError otherwise."""
    try:
        blob = Path(path).read_bytes()
    except OSError as err:
        raise _corrupt(path, err.strerror or type(err).__name__) from None
    header, _, data = blob.partition(b"\n")
    parts = header.split(b" ")
    if not blob:
        raise _corrupt(path, "empty file")
    if len(parts) != 3 or parts[0] != MAGIC or parts[1] != b"sha256":
        raise _corrupt(path, "no nc_core checksum header: not a training state of this version")
    if hashlib.sha256(data).hexdigest().encode() != parts[2]:
        raise _corrupt(path, "sha256 mismatch: truncated or altered")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        version = payload.pop("version", None)
    except Exception as err:  # any failure to unpickle the checked bytes means a bad file
        raise _corrupt(path, f"{type(err).__name__}: {err}".splitlines()[0]) from None
    if version != STATE_VERSION:
        raise CheckpointError(
            f"checkpoint {path} is training-state version {version}, this code reads "
            f"{STATE_VERSION}; delete it or pass another"
        )
    try:
        payload["records"] = [EpochRecord.from_dict(r) for r in payload["records"]]
        return TrainState(**payload)
    except (KeyError, TypeError) as err:
        raise _corrupt(path, f"{type(err).__name__}: {err}") from None
