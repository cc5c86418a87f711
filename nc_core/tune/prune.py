"""Old checkpoints deleted by the driver, never the newest complete one.

Tune's own `CheckpointConfig(num_to_keep=...)` deletes from the list of checkpoints it holds in
memory. After the driver is killed and the study resumed, that list comes from the last
experiment-state snapshot, which can be older than the trial folders: Tune then deletes
checkpoints by a stale list, and a run of driver kills can leave a trial with none at all. So
the studies keep every checkpoint as far as Tune is concerned (`num_to_keep=None`) and this
callback prunes them by what is on storage: after each new checkpoint of a trial, every
`checkpoint_*` folder of that trial except the `keep` newest complete ones (both files of
`nc_core.study.results`, ordered by the epoch they hold) is deleted, as are incomplete folders
named before the last complete one. An incomplete folder named after every complete one may
still be being written, and the checkpoint just reported is always kept. It works on any
pyarrow filesystem (local disk, S3).
"""

from __future__ import annotations

import json

import pyarrow.fs
from ray import tune
from ray.tune.experiment import Trial

from nc_core.study.results import META_FILE, STATE_FILE

KEEP = 2


def _epoch(fs: pyarrow.fs.FileSystem, folder: str) -> int | None:
    """The epoch a complete checkpoint folder holds; None when it is incomplete or unreadable."""
    try:
        if fs.get_file_info(f"{folder}/{STATE_FILE}").type != pyarrow.fs.FileType.File:
            return None
        with fs.open_input_stream(f"{folder}/{META_FILE}") as f:
            return int(json.loads(f.read())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def prune_checkpoints(
    fs: pyarrow.fs.FileSystem, trial_dir: str, keep: int = KEEP, spare: str = ""
) -> list[str]:
    """Delete all but the `keep` newest complete checkpoints in `trial_dir` (and never `spare`);
    return the folders deleted."""
    found = fs.get_file_info(pyarrow.fs.FileSelector(trial_dir, allow_not_found=True))
    folders = sorted(
        i.path
        for i in found
        if i.type == pyarrow.fs.FileType.Directory and i.base_name.startswith("checkpoint_")
    )
    epochs = {f: _epoch(fs, f) for f in folders}
    complete = sorted((e, f) for f, e in epochs.items() if e is not None)
    if not complete:
        return []
    kept = {f for _, f in complete[-keep:]}
    last = max(folders.index(f) for _, f in complete)  # the last complete folder by name
    doomed = [
        f
        for i, f in enumerate(folders)
        if f not in kept
        and f.rstrip("/") != spare.rstrip("/")
        and (epochs[f] is not None or i < last)
    ]
    for f in doomed:
        try:
            fs.delete_dir(f)
        except OSError:  # gone already, or storage refused: the next checkpoint tries again
            pass
    return doomed


class PruneCheckpoints(tune.Callback):
    """After each checkpoint a trial reports, prune its older ones (`prune_checkpoints`)."""

    def __init__(self, keep: int = KEEP):
        self.keep = keep

    def on_checkpoint(
        self,
        iteration: int,
        trials: list[Trial],
        trial: Trial,
        checkpoint: tune.Checkpoint,
        **info: object,
    ) -> None:
        """Tune's hook, run in the driver once `trial` has reported `checkpoint`."""
        path = checkpoint.path.rstrip("/")
        prune_checkpoints(checkpoint.filesystem, path.rsplit("/", 1)[0], self.keep, spare=path)
