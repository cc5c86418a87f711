"""The python version of CIFAR-10 and CIFAR-100 (Krizhevsky 2009), as torchvision keeps it:
`ROOT/cifar-10-batches-py/` (data_batch_1..5, test_batch, batches.meta) and
`ROOT/cifar-100-python/` (train, test, meta).

Each file is a Python pickle of a dict: `data`, a uint8 array (N, 3072) of N images, each its
1024 red, then green, then blue values row by row; the labels (`labels`, or `fine_labels` for
CIFAR-100) as N integers; the meta file names the classes. A pickle can run code when read, so
these files are read only from the folder the user named ($NC_DATA_DIR), or from `./data` when
their MD5 is the one torchvision lists (torchvision's own download, which checks it); and even
then through an unpickler that builds nothing but containers and numpy arrays (`read_pickle`).
Every file is checked (present, readable, the keys and shapes above, labels in range) and a bad
one is named.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nc_core.data.files import (
    base_dir,
    channel_stats,
    download,
    normalized,
    source_of,
    verify_once,
)
from nc_core.data.registry import DataError, DataRequest
from nc_core.data.split import Split

PIXELS = 3 * 32 * 32
# The only globals a CIFAR pickle needs: numpy's array reconstruction (numpy 1 and 2 names) and
# the bytes codec a protocol-2 pickle writes bytes with.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that refuses every global but numpy's array reconstruction."""

    def find_class(self, module: str, name: str) -> object:
        """The allowed global `module.name` (numpy 1's names read as numpy 2's); else refuse."""
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in CIFAR data")
        return super().find_class(*_ALLOWED[(module, name)])


def read_pickle(path: Path, how_to_get: str) -> dict[str, object]:
    """The dict pickled in `path` (keys as str; Python 2 strings read as latin-1, as
    torchvision reads them); DataError naming the file when it is unreadable or no dict."""
    try:
        with open(path, "rb") as f:
            obj = _ArraysOnly(f, encoding="latin1").load()
    except (OSError, EOFError, ValueError, TypeError, AttributeError, pickle.UnpicklingError) as e:
        raise DataError(
            f"{path}: cannot read ({type(e).__name__}: {e}); the file is truncated or corrupt. "
            f"Delete it and get it again. {how_to_get}"
        ) from e
    if not isinstance(obj, dict):
        raise DataError(f"{path}: holds a {type(obj).__name__}, not a dict. {how_to_get}")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def md5(path: Path) -> str:
    """The hex MD5 of the file at `path`."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class CIFARRelease:
    """One CIFAR release's folder and files as torchvision lists them (`torchvision.datasets.
    CIFAR10.train_list` and so on, MD5s included)."""

    title: str  # "CIFAR-10"
    folder: str  # torchvision's base_folder: "cifar-10-batches-py"
    torchvision_class: str  # "CIFAR10"
    train_files: tuple[tuple[str, str], ...]  # (name, md5)
    test_files: tuple[tuple[str, str], ...]
    meta_file: tuple[str, str]
    label_key: str  # "labels" or "fine_labels"
    names_key: str  # in the meta file: "label_names" or "fine_label_names"
    num_classes: int

    def directory(self, root: Path | None) -> Path:
        """ROOT/<folder> (ROOT: $NC_DATA_DIR, else ./data)."""
        return base_dir(root) / self.folder

    def how_to_get(self) -> str:
        """The sentence every DataError of this dataset ends with."""
        return (
            f"To get {self.title}: run once with network access and NC_DATA_DIR unset "
            f"(torchvision downloads it into ./data/{self.folder}), or set NC_DATA_DIR to the "
            f"folder holding {self.folder}/ as torchvision.datasets.{self.torchvision_class} "
            "downloads it (the python version)."
        )

    def files(self) -> tuple[tuple[str, str], ...]:
        """Every file with its MD5: the train batches, the test batch, the meta file."""
        return (*self.train_files, *self.test_files, self.meta_file)

    def _paths(self, req: DataRequest, *, fetch: bool) -> list[Path] | None:
        """The files; None when absent and `load` would download them (no folder named),
        downloading first when `fetch`. DataError when absent from a folder the user named."""
        folder = self.directory(req.root)
        paths = [folder / name for name, _ in self.files()]
        missing = [p for p in paths if not p.is_file()]
        if missing and req.root is not None:
            why = "no such folder" if not folder.is_dir() else "no such file"
            raise DataError(f"{missing[0]}: {why}. {self.how_to_get()}")
        if missing:
            if not fetch:
                return None
            download(self.torchvision_class, base_dir(None), self.title, self.how_to_get())
            missing = [p for p in paths if not p.is_file()]
            if missing:
                raise DataError(f"{missing[0]}: absent after the download. {self.how_to_get()}")
        return paths

    def _batch(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        """(images (N, 3, 32, 32) uint8, labels (N,) int64) of one batch file, checked."""
        how = self.how_to_get()
        batch = read_pickle(path, how)
        for key in ("data", self.label_key):
            if key not in batch:
                raise DataError(f"{path}: no {key!r} entry (keys: {sorted(batch)}). {how}")
        data = batch["data"]
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
            shown = getattr(data, "shape", type(data).__name__)
            raise DataError(f"{path}: 'data' is {shown}, expected a uint8 array (N, 3072). {how}")
        if data.shape[1] != PIXELS:
            raise DataError(f"{path}: 'data' has shape {data.shape}, expected (N, {PIXELS}). {how}")
        try:
            labels = np.asarray(batch[self.label_key], dtype=np.int64).reshape(-1)
        except (TypeError, ValueError) as err:
            raise DataError(f"{path}: {self.label_key!r} are not integers ({err}). {how}") from err
        if labels.shape[0] != data.shape[0]:
            raise DataError(
                f"{path}: {labels.shape[0]} {self.label_key} for {data.shape[0]} images. {how}"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            bad = int(labels.min() if labels.min() < 0 else labels.max())
            raise DataError(
                f"{path}: label {bad} outside 0..{self.num_classes - 1}; the file is corrupt. {how}"
            )
        return data.reshape(-1, 3, 32, 32), labels  # channels first, as stored

    def _meta(self, path: Path) -> None:
        """Check the meta file names `num_classes` classes."""
        names = read_pickle(path, self.how_to_get()).get(self.names_key)
        if not isinstance(names, list | tuple) or len(names) != self.num_classes:
            count = len(names) if isinstance(names, list | tuple) else "no"
            raise DataError(
                f"{path}: {count} {self.names_key!r}, expected {self.num_classes} class names. "
                f"{self.how_to_get()}"
            )

    def _trusted(self, paths: list[Path], req: DataRequest) -> None:
        """DataError for a file in ./data (no folder named) whose MD5 is not the one torchvision
        lists: it is never unpickled."""
        if req.root is not None:
            return
        for path, (_, digest) in zip(paths, self.files(), strict=True):
            if md5(path) != digest:
                raise DataError(
                    f"{path}: its MD5 is not the {digest} torchvision lists, so it is not "
                    "unpickled; delete it to download it again, or set NC_DATA_DIR to the "
                    f"folder above {self.folder}/ to read your own files. {self.how_to_get()}"
                )

    def _read(
        self, paths: list[Path], req: DataRequest
    ) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """(train, test) as (images, labels), every file checked."""
        self._trusted(paths, req)
        n_train = len(self.train_files)
        train = [self._batch(p) for p in paths[:n_train]]
        test = [self._batch(p) for p in paths[n_train:-1]]
        self._meta(paths[-1])
        return tuple(
            (np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]))
            for parts in (train, test)
        )

    def check(self, req: DataRequest) -> None:
        """DataError for a missing, truncated or corrupt file (each file set read once per
        process); passes when the files are absent and `load` would download them."""
        paths = self._paths(req, fetch=False)
        if paths is not None:
            verify_once(paths, lambda: self._read(paths, req))

    def load(self, req: DataRequest) -> tuple[Split, Split]:
        """(train, test) as (N, 3, 32, 32) float32, normalised per channel by the train split's
        mean and std (`nc_core.data.files`); downloads first when absent and no folder was
        named."""
        paths = self._paths(req, fetch=True)
        (x_train, y_train), (x_test, y_test) = self._read(paths, req)
        mean, std = channel_stats(x_train, channel_axis=1)
        source = source_of(paths)
        return (
            Split(normalized(x_train, mean, std), torch.from_numpy(y_train), source),
            Split(normalized(x_test, mean, std), torch.from_numpy(y_test), source),
        )
