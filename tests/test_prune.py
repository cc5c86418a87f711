"""The driver's checkpoint pruning (`nc_core.tune.prune`): by what is on storage, never the
newest complete checkpoint, incomplete folders kept only while they may still be written."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.fs

from nc_core.study.results import META_FILE, STATE_FILE
from nc_core.tune.prune import prune_checkpoints


def _folder(trial: Path, index: int, epoch: int | None) -> Path:
    """checkpoint_<index>, complete with `epoch` in its meta, or with only a partial state when
    `epoch` is None."""
    d = trial / f"checkpoint_{index:06d}"
    d.mkdir()
    (d / STATE_FILE).write_bytes(b"state")
    if epoch is not None:
        (d / META_FILE).write_text(json.dumps({"epoch": epoch, "status": "running"}))
    return d


def _left(trial: Path) -> list[str]:
    return sorted(p.name for p in trial.iterdir())


def test_keeps_the_two_newest_complete_and_a_folder_being_written(tmp_path):
    for i in range(5):
        _folder(tmp_path, i, epoch=i + 1)
    _folder(tmp_path, 5, epoch=None)  # newer than every complete one: may be being written
    fs = pyarrow.fs.LocalFileSystem()
    deleted = prune_checkpoints(fs, str(tmp_path))
    assert _left(tmp_path) == ["checkpoint_000003", "checkpoint_000004", "checkpoint_000005"]
    assert sorted(Path(d).name for d in deleted) == [f"checkpoint_00000{i}" for i in range(3)]


def test_orders_by_the_epoch_held_not_the_folder_name(tmp_path):
    """A resume from a stale experiment state can write a newer epoch under a lower index."""
    _folder(tmp_path, 0, epoch=9)
    _folder(tmp_path, 1, epoch=None)  # named before a complete one: a killed write
    _folder(tmp_path, 2, epoch=2)
    _folder(tmp_path, 3, epoch=3)
    _folder(tmp_path, 4, epoch=None)  # named after every complete one: may be being written
    prune_checkpoints(pyarrow.fs.LocalFileSystem(), str(tmp_path))
    assert _left(tmp_path) == ["checkpoint_000000", "checkpoint_000003", "checkpoint_000004"]


def test_spares_the_checkpoint_just_reported_and_never_empties_a_trial(tmp_path):
    rng = random.Random(0)
    fs = pyarrow.fs.LocalFileSystem()
    for case in range(200):
        trial = tmp_path / f"t{case}"
        trial.mkdir()
        n = rng.randint(1, 7)
        epochs = [rng.choice([None, *range(1, 20)]) for _ in range(n)]
        for i, e in enumerate(epochs):
            _folder(trial, i, e)
        spare = str(trial / f"checkpoint_{rng.randrange(n):06d}")
        prune_checkpoints(fs, str(trial), keep=2, spare=spare)
        left = _left(trial)
        assert Path(spare).name in left
        complete = sorted((e, i) for i, e in enumerate(epochs) if e is not None)
        if complete:  # the newest complete checkpoint survives every prune
            assert f"checkpoint_{complete[-1][1]:06d}" in left
            assert sum(epochs[int(name[-6:])] is not None for name in left) <= 3
        else:
            assert len(left) == n  # nothing complete: nothing is touched


def test_a_missing_trial_folder_is_no_error(tmp_path):
    assert prune_checkpoints(pyarrow.fs.LocalFileSystem(), str(tmp_path / "gone")) == []
