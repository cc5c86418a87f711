"""What the file-backed datasets share: where they look, a download through torchvision's own
dataset class, each file verified once per process, and pixels to normalised tensors.

Where: the folder the user names ($NC_DATA_DIR, `DataRequest.root`), in the layout torchvision
itself uses, so a folder torchvision downloaded works as it is; without one, `./data` under the
working directory, where torchvision downloads a dataset that is not there yet (with its own
checksums). A folder the user named is never downloaded into: absent files there are an error.

Trace: a split read from files names them (`Split.source`, `source_of`); a run records the
folder they are in and a short digest of their bytes (`data_trace`), so each row of its tables
says which data it was trained on.

Normalisation: per channel, the mean and (population) standard deviation of the train split's
pixels scaled to [0, 1], computed exactly from their histogram when the split is loaded; the
test split is normalised with the train split's statistics (`channel_stats`, `normalized`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from nc_core.data.registry import DataError, work_dir

DEFAULT_DIR = Path("data")  # relative to the working directory at call time, as torchvision's
_VERIFIED: set[tuple] = set()  # signatures of file sets read and checked in this process
_DIGESTS: dict[tuple, str] = {}  # signature of a file set -> its digest, in this process
DIGEST_CHARS = 12  # hex characters of sha256 kept: a short digest, still unique in practice


def base_dir(root: Path | None) -> Path:
    """The folder looked in: `root` (the user's), else `./data` under the working directory."""
    return Path(root) if root is not None else work_dir() / DEFAULT_DIR


def signature(paths: Iterable[Path]) -> tuple:
    """What identifies the contents of `paths` without reading them: path, size, mtime."""
    out = []
    for path in paths:
        st = os.stat(path)
        out.append((str(Path(path).resolve()), st.st_size, st.st_mtime_ns))
    return tuple(out)


def verify_once(paths: Iterable[Path], verify: Callable[[], object]) -> None:
    """Run `verify()` (which raises DataError) unless these very files passed it already."""
    key = signature(paths)
    if key in _VERIFIED:
        return
    verify()
    _VERIFIED.add(key)


def source_of(paths: Iterable[Path]) -> tuple[str, ...]:
    """The files a split was read from, as `Split.source` keeps them: absolute, sorted."""
    return tuple(sorted(str(Path(p).resolve()) for p in paths))


def data_trace(source: tuple[str, ...]) -> tuple[str, str]:
    """(folder, digest) of the files in `source`: the folder holding them (their common
    parent) and the first DIGEST_CHARS hex characters of the sha256 of each file's name and
    bytes in turn; ("", "") for generated data. Hashed once per file set per process."""
    if not source:
        return "", ""
    folder = os.path.commonpath([str(Path(p).parent) for p in source])
    key = signature(Path(p) for p in source)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        for path in source:
            digest.update(Path(path).name.encode() + b"\0")
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        _DIGESTS[key] = digest.hexdigest()[:DIGEST_CHARS]
    return folder, _DIGESTS[key]


@contextlib.contextmanager
def removed_on_failure(folder: Path) -> Iterator[None]:
    """Run the block; if it raises, remove what of `folder` (and its parents) did not exist
    before it, so that a failed download leaves no empty folders behind."""
    folder = Path(folder).absolute()
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        yield
    except BaseException:
        if missing:
            shutil.rmtree(missing[-1], ignore_errors=True)  # the outermost one created
        raise


def download(cls_name: str, base: Path, title: str, how_to_get: str) -> None:
    """Download dataset `cls_name` of torchvision.datasets into `base` (its layout, its
    checksums); DataError naming `base` and the fix when that fails (offline, say). A failed
    download leaves no folder it created behind."""
    try:
        import torchvision  # imported here: only a download needs it

        with removed_on_failure(base):
            getattr(torchvision.datasets, cls_name)(root=str(base), train=True, download=True)
    except (ImportError, OSError, RuntimeError) as err:  # URLError is an OSError
        reason = " ".join(str(err).split()) or type(err).__name__
        raise DataError(
            f"{title}: files absent and the download into {base} failed ({reason}). {how_to_get}"
        ) from err


def channel_stats(images: np.ndarray, channel_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and population std of uint8 `images` scaled to [0, 1], exact (from
    each channel's 256-bin histogram, so no float sum over millions of pixels is involved)."""
    moved = np.moveaxis(images, channel_axis, 0)  # (C, ...)
    levels = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for plane in moved:
        counts = np.bincount(plane.reshape(-1), minlength=256).astype(np.float64)
        n = counts.sum()
        mean = (counts * levels).sum() / n
        var = (counts * (levels - mean) ** 2).sum() / n
        means.append(mean)
        stds.append(np.sqrt(var))
    return np.array(means), np.array(stds)


def normalized(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> float32 (x / 255 - mean_c) / std_c, per channel c."""
    std = np.where(std > 0, std, 1.0)  # a constant channel (a test file) stays finite
    x = torch.from_numpy(images.astype(np.float32)).div_(255.0)  # (N, C, H, W), a copy
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)
