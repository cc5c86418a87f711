"""The IDX files of the MNIST family (MNIST, KMNIST, Fashion-MNIST), and the loader of a family
member kept as torchvision keeps it.

Format: http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE": a big-endian
magic number (0x00000803 for uint8 images, 0x00000801 for uint8 labels), one 32-bit size per
dimension, then the bytes. Files are read gzipped or not. Every file is checked (magic number,
dimensions, length, label range; images and labels agree in number) and a bad one is named.

All three releases use the same four file names, so a member is read from its own folder only:
torchvision's `ROOT/<Class>/raw/` (`ROOT/MNIST/raw/`, `ROOT/KMNIST/raw/`), never from a flat
folder where another member's files could stand in for it (Fashion-MNIST, which has always read
flat folders such as Debian's, keeps its own search: `nc_core.data.fashion_mnist`).
"""

from __future__ import annotations

import gzip
import zlib
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

IMAGES, LABELS = 0x00000803, 0x00000801  # IDX magic numbers of uint8 images and labels
SIDE = 28
FILES = {  # part -> (file name without .gz, IDX magic, shape of one item)
    "train_x": ("train-images-idx3-ubyte", IMAGES, (SIDE, SIDE)),
    "train_y": ("train-labels-idx1-ubyte", LABELS, ()),
    "test_x": ("t10k-images-idx3-ubyte", IMAGES, (SIDE, SIDE)),
    "test_y": ("t10k-labels-idx1-ubyte", LABELS, ()),
}


def read_idx(path: Path, magic: int, shape: tuple[int | None, ...], how_to_get: str) -> np.ndarray:
    """The uint8 array of one IDX file, checked against `magic` and `shape` (None: any size)."""
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise DataError(
            f"{path}: cannot read ({err}); the file is truncated or corrupt. "
            f"Delete it and get it again. {how_to_get}"
        ) from err
    ndim = len(shape)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"{path}: {len(raw)} bytes, shorter than the {header}-byte IDX header; "
            f"the file is truncated. {how_to_get}"
        )
    got_magic = int.from_bytes(raw[:4], "big")
    if got_magic != magic:
        raise DataError(
            f"{path}: IDX magic number {got_magic:#010x}, expected {magic:#010x}; "
            f"this is not the file its name says. {how_to_get}"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    if any(want is not None and got != want for got, want in zip(dims, shape, strict=True)):
        expected = tuple("any" if d is None else d for d in shape)
        shown = str(expected).replace("'", "") if None in shape else str(expected)
        raise DataError(f"{path}: header dimensions {dims}, expected {shown}. {how_to_get}")
    body = len(raw) - header
    if body != int(np.prod(dims)):
        raise DataError(
            f"{path}: {body} data bytes, the header promises {int(np.prod(dims))}; "
            f"the file is truncated or padded. {how_to_get}"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def find_files(directory: Path) -> dict[str, Path] | list[str]:
    """Paths of the four files in `directory` (uncompressed preferred), else the missing names."""
    found, missing = {}, []
    for part, (name, _, _) in FILES.items():
        for path in (directory / name, directory / f"{name}.gz"):
            if path.is_file():
                found[part] = path
                break
        else:
            missing.append(name)
    return found if not missing else missing


def read_family(
    paths: dict[str, Path],
    *,
    num_classes: int,
    counts: tuple[int, int] | None,
    how_to_get: str,
) -> dict[str, np.ndarray]:
    """The four arrays (train_x, train_y, test_x, test_y), every file checked; `counts`: the
    release's (train, test) sizes, or None for any size on which images and labels agree."""
    arrays = {}
    for split, n in zip(("train", "test"), counts or (None, None), strict=True):
        x_name, x_magic, item = FILES[f"{split}_x"]
        x = read_idx(paths[f"{split}_x"], x_magic, (n, *item), how_to_get)
        _, y_magic, _ = FILES[f"{split}_y"]
        y = read_idx(
            paths[f"{split}_y"], y_magic, (n if n is not None else x.shape[0],), how_to_get
        )
        if y.size and int(y.max()) >= num_classes:
            raise DataError(
                f"{paths[f'{split}_y']}: label {int(y.max())} outside 0..{num_classes - 1}; "
                f"the file is corrupt. {how_to_get}"
            )
        arrays[f"{split}_x"], arrays[f"{split}_y"] = x, y
    return arrays


@dataclass(frozen=True)
class TorchvisionIDX:
    """A member of the MNIST family as torchvision keeps it: `ROOT/<folder>/raw/`, the four IDX
    files (.gz or not), downloaded by `torchvision.datasets.<folder>`."""

    title: str  # "MNIST"
    folder: str  # torchvision's class name and folder: "MNIST", "KMNIST"
    num_classes: int = 10

    def raw_dir(self, root: Path | None) -> Path:
        """Where the four files are: ROOT/<folder>/raw (ROOT: $NC_DATA_DIR, else ./data)."""
        return base_dir(root) / self.folder / "raw"

    def how_to_get(self) -> str:
        """The sentence every DataError of this dataset ends with."""
        return (
            f"To get {self.title}: run once with network access and NC_DATA_DIR unset "
            f"(torchvision downloads it into ./data/{self.folder}/raw), or set NC_DATA_DIR to "
            f"a folder holding {self.folder}/raw/ with the four IDX files (.gz or not), as "
            "torchvision.datasets downloads them."
        )

    def _paths(self, req: DataRequest, *, fetch: bool) -> dict[str, Path] | None:
        """The four files; None when absent and `load` would download them (no folder named),
        downloading first when `fetch`. DataError when absent from a folder the user named."""
        raw = self.raw_dir(req.root)
        found = find_files(raw)
        if isinstance(found, dict):
            return found
        if req.root is not None:
            why = "no such folder" if not raw.is_dir() else "missing " + ", ".join(found)
            raise DataError(f"{raw}: {why}. {self.how_to_get()}")
        if not fetch:
            return None
        download(self.folder, base_dir(None), self.title, self.how_to_get())
        found = find_files(raw)
        if isinstance(found, list):
            raise DataError(
                f"{raw}: the download left it without {', '.join(found)}. {self.how_to_get()}"
            )
        return found

    def _read(self, paths: dict[str, Path]) -> dict[str, np.ndarray]:
        return read_family(
            paths, num_classes=self.num_classes, counts=None, how_to_get=self.how_to_get()
        )

    def check(self, req: DataRequest) -> None:
        """DataError for a missing, truncated or corrupt file (each file set read once per
        process); passes when the files are absent and `load` would download them."""
        paths = self._paths(req, fetch=False)
        if paths is not None:
            verify_once(paths.values(), lambda: self._read(paths))

    def load(self, req: DataRequest) -> tuple[Split, Split]:
        """(train, test) as (N, 1, 28, 28) float32, normalised by the train split's mean and
        std (`nc_core.data.files`); downloads first when absent and no folder was named."""
        paths = self._paths(req, fetch=True)
        arrays = self._read(paths)
        images = {split: arrays[f"{split}_x"][:, None] for split in ("train", "test")}
        mean, std = channel_stats(images["train"], channel_axis=1)
        splits = []
        for split in ("train", "test"):
            x = normalized(images[split], mean, std)  # (N, 1, 28, 28)
            y = torch.from_numpy(arrays[f"{split}_y"].astype(np.int64))  # (N,)
            splits.append(Split(x, y, source_of(paths.values())))
        return splits[0], splits[1]
