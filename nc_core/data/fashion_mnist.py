"""Fashion-MNIST (Xiao et al., arXiv 1708.07747) from the four IDX files of its original release.

The IDX format and its checks are `nc_core.data.idx`. The files are read gzipped or not, from
the first directory that holds all four; see `load_fashion_mnist`. Every file is checked (magic
number, dimensions, the release's counts, length, label range) and a bad one is named. Pixels
are scaled to [0, 1] and nothing else, as in the paper's code: the measured results were made
so, and stay comparable.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from nc_core.data.files import removed_on_failure, source_of, verify_once
from nc_core.data.idx import find_files, read_idx
from nc_core.data.registry import DataError, DataRequest, register_dataset, work_dir
from nc_core.data.split import Split

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's `dataset-fashion-mnist`
LOCAL_DIR = Path("data/fashion-mnist")  # relative to the working directory at call time
TORCHVISION_SUBDIR = Path("FashionMNIST/raw")  # where torchvision keeps the raw files
FILES = {  # part -> (file name without .gz, IDX magic, expected shape)
    "train_x": ("train-images-idx3-ubyte", 0x00000803, (60000, 28, 28)),
    "train_y": ("train-labels-idx1-ubyte", 0x00000801, (60000,)),
    "test_x": ("t10k-images-idx3-ubyte", 0x00000803, (10000, 28, 28)),
    "test_y": ("t10k-labels-idx1-ubyte", 0x00000801, (10000,)),
}
NUM_CLASSES = 10
HOW_TO_GET = (
    "To get Fashion-MNIST: `apt-get install dataset-fashion-mnist` (installs "
    f"{DEBIAN_DIR}), or set NC_DATA_DIR to a directory holding the four IDX files "
    "(.gz or not), or call load_fashion_mnist(download=True) with network access."
)
__all__ = ["DataError", "load_fashion_mnist"]


def _read_idx(path: Path, magic: int, shape: tuple[int, ...]) -> np.ndarray:
    """The uint8 array of one IDX file, checked against `magic` and `shape`."""
    return read_idx(path, magic, shape, HOW_TO_GET)


def _named(root: str | os.PathLike | None) -> Path | None:
    """The folder the user named: `root`, else $NC_DATA_DIR; None when neither is given."""
    if root is not None:
        return Path(root)
    return Path(os.environ["NC_DATA_DIR"]) if os.environ.get("NC_DATA_DIR") else None


def _candidate_dirs(root: str | os.PathLike | None) -> list[Path]:
    """Every directory looked in, in order, each base also with torchvision's layout: the
    folder the user named alone, else `./data/fashion-mnist` and then Debian's folder."""
    named = _named(root)
    bases = [named] if named is not None else [work_dir() / LOCAL_DIR, DEBIAN_DIR]
    return [d for base in bases for d in (base, base / TORCHVISION_SUBDIR)]


def _download(dest: Path) -> None:
    """Fetch the raw files into `dest/FashionMNIST/raw` with torchvision (it checks the MD5s);
    a failed download leaves no folder it created behind."""
    with removed_on_failure(dest):
        import torchvision  # imported here: only the download path needs it

        torchvision.datasets.FashionMNIST(root=str(dest), train=True, download=True)


def _resolve(root: str | os.PathLike | None, download: bool) -> dict[str, Path]:
    """The four files from the first directory that has them all; downloading, if allowed,
    only when no folder was named (a named folder is never written to)."""
    named, looked = _named(root), []
    for directory in _candidate_dirs(root):
        found = find_files(directory)
        if isinstance(found, dict):
            return found
        why = "no such directory" if not directory.is_dir() else "missing " + ", ".join(found)
        looked.append(f"{directory} ({why})")
    if named is not None:
        given = f"NC_DATA_DIR={named}" if root is None else f"{named}"
        raise DataError(
            f"{given}: no Fashion-MNIST IDX files there (looked in {'; '.join(looked)}); name "
            "the folder holding the four files (.gz or not), or unset NC_DATA_DIR to read "
            f"./{LOCAL_DIR} or {DEBIAN_DIR}"
        )
    note = "download=False"
    if download:
        dest = work_dir() / LOCAL_DIR
        try:
            _download(dest)
        except (ImportError, OSError, RuntimeError) as err:  # torchvision raises RuntimeError
            note = f"download into {dest} failed: {str(err).strip()}"
        else:
            found = find_files(dest / TORCHVISION_SUBDIR)
            if isinstance(found, dict):
                return found
            note = f"download into {dest} left {dest / TORCHVISION_SUBDIR} without " + ", ".join(
                found
            )
    raise DataError(
        "Fashion-MNIST IDX files not found. Looked in:\n"
        + "\n".join(f"  {line}" for line in looked)
        + f"\n{note}.\n{HOW_TO_GET}"
    )


def load_fashion_mnist(
    root: str | os.PathLike | None = None, *, download: bool = True
) -> tuple[Split, Split]:
    """Fashion-MNIST (train 60000, test 10000) as CPU splits, pixels scaled to [0, 1].

    Reads the four IDX files (each `.gz` or not) from the folder the user named, `root` or
    else `$NC_DATA_DIR`, and from nowhere else; with neither named, from the first of
    `./data/fashion-mnist` and `DEBIAN_DIR` that holds them all. Each folder is also tried in
    torchvision's layout, `<dir>/FashionMNIST/raw`. If no folder was named, none has them and
    `download` is true, torchvision downloads them into `./data/fashion-mnist`. Raises
    `DataError` naming the file at fault, or every place looked.
    """
    paths = _resolve(root, download)
    arrays = _read_all(paths)
    splits = []
    for name in ("train", "test"):
        x = torch.from_numpy(arrays[f"{name}_x"].astype(np.float32) / np.float32(255))
        y = torch.from_numpy(arrays[f"{name}_y"].astype(np.int64))  # (N,)
        splits.append(Split(x.unsqueeze(1), y, source_of(paths.values())))  # x: (N, 1, 28, 28)
    return splits[0], splits[1]


def _read_all(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    """The four arrays, each file checked, labels in 0..9."""
    arrays = {
        part: _read_idx(paths[part], magic, shape) for part, (_, magic, shape) in FILES.items()
    }
    for name in ("train", "test"):
        labels = arrays[f"{name}_y"]
        if labels.max() >= NUM_CLASSES:
            raise DataError(
                f"{paths[f'{name}_y']}: label {int(labels.max())} outside "
                f"0..{NUM_CLASSES - 1}; the file is corrupt. {HOW_TO_GET}"
            )
    return arrays


def check_fashion_mnist(req: DataRequest) -> None:
    """DataError for a truncated or corrupt file where `load` would read (each file set read
    once per process), or for no files anywhere when a folder was named (nothing is then
    downloaded); passes when nothing is found and `load` would download."""
    try:
        paths = _resolve(req.root, download=False)
    except DataError:
        if req.root is None:
            return
        raise
    verify_once(paths.values(), lambda: _read_all(paths))


@register_dataset(
    "fashion_mnist",
    num_classes=NUM_CLASSES,
    input_shape=(1, 28, 28),
    train_per_class=6000,
    normalization="pixels / 255, in [0, 1] (no mean or std subtracted, as in the paper's code)",
    check=check_fashion_mnist,
)
def load(req: DataRequest) -> tuple[Split, Split]:
    """Fashion-MNIST (Xiao et al. 2017): 10 classes of 28x28 grey images, 6000 train each;
    downloaded by torchvision only when no folder was named and none holds the files."""
    return load_fashion_mnist(req.root, download=req.root is None)
