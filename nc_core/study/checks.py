"""Before a study runs: refuse what would fail only after Ray started, and keep one study per
storage folder.

`check_study` runs every check and creates nothing. A study's Tune experiment folder holds a
marker (`SPEC_FILE`, the study's `StudySpec.describe()` and its `StudyType`, which the analysis
reads): `claim` writes it when the study first
runs, and `check_claim` refuses a different study under the same storage and name. No Ray here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.fs

from nc_core.results.atomic import check_writable
from nc_core.study.declaration import STUDY_KEY
from nc_core.study.spec import StudyOptions, StudySpec, comparable

SPEC_FILE = "nc_study.json"  # in a study's Tune experiment folder: what the study is


def check_study(spec: StudySpec, opts: StudyOptions) -> None:
    """Raise ValueError for anything that would fail only after Ray started: a device or GPUs
    this machine lacks (local Ray), outputs that cannot be written, and a different study
    already stored under the same name. Creates nothing."""
    if opts.local:
        import torch

        from nc_core.train.build import resolve_device

        resolve_device(spec.base.device)
        gpus = torch.cuda.device_count()
        if (opts.gpus_per_trial or 0) > gpus:
            raise ValueError(
                f"StudyOptions.gpus_per_trial={opts.gpus_per_trial}: the local Ray has {gpus} "
                "GPUs; a trial needing more would wait forever"
            )
    if opts.export_only:
        return
    if opts.tensorboard is not None:
        from nc_core.results.tensorboard import check_tensorboard

        check_tensorboard(opts.tensorboard)
    for name in ("epochs.parquet", "layers.parquet"):
        check_writable(Path(opts.results) / spec.name / name, flag="--results")
    if "://" not in opts.storage:
        check_writable(opts.storage, flag="--storage", directory=True)
    check_claim(spec, experiment_path(spec, opts))


def storage_uri(opts: StudyOptions) -> str:
    """Tune's storage: a cloud URI as given, a local path made absolute."""
    return opts.storage if "://" in opts.storage else str(Path(opts.storage).resolve())


def experiment_path(spec: StudySpec, opts: StudyOptions) -> str:
    """Tune's experiment directory (or URI): <storage>/<study name>."""
    return f"{storage_uri(opts).rstrip('/')}/{spec.name}"


def study_marker(spec: StudySpec, path: str) -> tuple[pyarrow.fs.FileSystem, str, str]:
    """(file system, marker path, this study's description) of the experiment at `path`."""
    fs, root = pyarrow.fs.FileSystem.from_uri(path)
    return fs, f"{root}/{SPEC_FILE}", json.dumps(spec.describe(), sort_keys=True, indent=1)


def check_claim(spec: StudySpec, path: str) -> None:
    """Raise ValueError when `path` holds a different study (its marker file says which)."""
    fs, marker, mine = study_marker(spec, path)
    if fs.get_file_info(marker).type == pyarrow.fs.FileType.File:
        with fs.open_input_stream(marker) as f:
            theirs = json.loads(f.read().decode())
        theirs.pop(STUDY_KEY, None)  # what kind of study it is: drawn by, not identified by
        if comparable(theirs) != comparable(json.loads(mine)):
            raise ValueError(
                f"--name {spec.name}: {path} holds a different study (other trials, grid or "
                f"base config; see {marker}). Rerun with the original arguments to resume it, "
                "or pass another --storage or --name."
            )


def claim(spec: StudySpec, path: str) -> None:
    """Record which study owns `path` (check_claim has refused a different one there), with
    its `StudyType` under `STUDY_KEY` for the analysis. A marker already there is kept as it
    is: a study first run by nc-core 0.1 has none, and its type is inferred from its trials."""
    fs, marker, mine = study_marker(spec, path)
    if fs.get_file_info(marker).type == pyarrow.fs.FileType.File:
        return
    data = json.loads(mine)
    if spec.study_type is not None:
        data[STUDY_KEY] = spec.study_type.to_dict()
    fs.create_dir(marker.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(marker) as f:
        f.write(json.dumps(data, sort_keys=True, indent=1).encode())
