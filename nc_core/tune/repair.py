"""Before a resume: no unfinished trial may point at a checkpoint Tune has already deleted.

Older checkpoints are deleted as new ones arrive (`nc_core.tune.prune`; in studies stored
before that, by Tune's own `num_to_keep`). A driver killed after such a deletion but before its
next experiment-state snapshot reached storage leaves a state that names the deleted folder,
and every resume of that trial then fails ("Could not recover from checkpoint as it does not
exist on storage anymore") although newer checkpoints sit beside it.
`repair_dangling_checkpoints` puts the trial's newest complete checkpoint (one holding both
files of `nc_core.study.results`) at the path the state names.
"""

from __future__ import annotations

import pyarrow.fs
from ray import tune

from nc_core.study.results import META_FILE, STATE_FILE


def _exists(fs: pyarrow.fs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def repair_dangling_checkpoints(path: str) -> list[str]:
    """For each unfinished trial of the experiment at `path` whose recorded checkpoint is gone,
    copy its newest complete checkpoint there; return the paths repaired."""
    repaired = []
    for trial in tune.ExperimentAnalysis(path).trials:
        ck = trial.checkpoint
        if trial.status == "TERMINATED" or ck is None:
            continue
        fs, missing = ck.filesystem, ck.path.rstrip("/")
        if _exists(fs, missing):
            continue
        folder = missing.rsplit("/", 1)[0]
        found = fs.get_file_info(pyarrow.fs.FileSelector(folder, allow_not_found=True))
        candidates = sorted(
            (
                i.path
                for i in found
                if i.type == pyarrow.fs.FileType.Directory and i.base_name.startswith("checkpoint_")
            ),
            reverse=True,
        )
        for src in candidates:
            if _exists(fs, f"{src}/{STATE_FILE}") and _exists(fs, f"{src}/{META_FILE}"):
                fs.create_dir(missing, recursive=True)
                pyarrow.fs.copy_files(src, missing, source_filesystem=fs, destination_filesystem=fs)
                repaired.append(missing)
                break
    return repaired
