"""Data: Fashion-MNIST from its original IDX files, separable synthetic classes, and batching.

A `Split` is a pair of tensors that already lives where training runs; `batches` slices it with
a permutation seeded from (seed, epoch), so no DataLoader, worker or pinned buffer is involved.

Fashion-MNIST (Xiao et al., arXiv 1708.07747) is read from the four IDX files of the original
release (format: http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE"),
gzipped or not, from the first directory that holds all four; see `load_fashion_mnist`.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

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


class DataError(RuntimeError):
    """Data missing, truncated or corrupt; the message names the file or places and the fix."""


@dataclass(frozen=True, eq=False)
class Split:
    """Inputs and integer labels of one split (train or test), on one device."""

    x: torch.Tensor  # (N, 1, 28, 28) float32 in [0, 1] for images; (N, D) for synthetic
    y: torch.Tensor  # (N,) int64

    def __post_init__(self) -> None:
        if self.y.dtype != torch.int64 or self.y.dim() != 1:
            raise ValueError(
                f"Split.y must be a 1-d int64 tensor, got dtype {self.y.dtype} and shape "
                f"{tuple(self.y.shape)}; convert labels with .long().reshape(-1)"
            )
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"Split.x has {self.x.shape[0]} samples but Split.y has {self.y.shape[0]}; "
                "pass one label per sample"
            )
        if self.x.device != self.y.device:
            raise ValueError(
                f"Split.x is on {self.x.device} but Split.y on {self.y.device}; move both"
            )

    def __len__(self) -> int:
        return self.y.shape[0]

    @property
    def num_classes(self) -> int:
        """Largest label + 1 (0 for an empty split)."""
        return int(self.y.max()) + 1 if len(self) else 0

    def to(self, device: torch.device | str) -> Split:
        """The same split on `device`."""
        return Split(self.x.to(device), self.y.to(device))


# ---------------------------------------------------------------------------- Fashion-MNIST


def _read_idx(path: Path, magic: int, shape: tuple[int, ...]) -> np.ndarray:
    """The uint8 array of one IDX file, checked against `magic` and `shape`."""
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise DataError(
            f"{path}: cannot read ({err}); the file is truncated or corrupt. "
            f"Delete it and get it again. {HOW_TO_GET}"
        ) from err
    ndim = len(shape)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"{path}: {len(raw)} bytes, shorter than the {header}-byte IDX header; "
            f"the file is truncated. {HOW_TO_GET}"
        )
    got_magic = int.from_bytes(raw[:4], "big")
    if got_magic != magic:
        raise DataError(
            f"{path}: IDX magic number {got_magic:#010x}, expected {magic:#010x}; "
            f"this is not the file its name says. {HOW_TO_GET}"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    if dims != shape:
        raise DataError(f"{path}: header dimensions {dims}, expected {shape}. {HOW_TO_GET}")
    body = len(raw) - header
    if body != int(np.prod(shape)):
        raise DataError(
            f"{path}: {body} data bytes, the header promises {int(np.prod(shape))}; "
            f"the file is truncated or padded. {HOW_TO_GET}"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _find_files(directory: Path) -> dict[str, Path] | list[str]:
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


def _candidate_dirs(root: str | os.PathLike | None) -> list[Path]:
    """Every directory looked in, in order; each base is also tried with torchvision's layout."""
    bases = [Path(root)] if root is not None else []
    if os.environ.get("NC_DATA_DIR"):
        bases.append(Path(os.environ["NC_DATA_DIR"]))
    bases += [Path.cwd() / LOCAL_DIR, DEBIAN_DIR]
    return [d for base in bases for d in (base, base / TORCHVISION_SUBDIR)]


def _download(dest: Path) -> None:
    """Fetch the raw files into `dest/FashionMNIST/raw` with torchvision (it checks the MD5s)."""
    import torchvision  # imported here: only the download path needs it

    torchvision.datasets.FashionMNIST(root=str(dest), train=True, download=True)


def _resolve(root: str | os.PathLike | None, download: bool) -> dict[str, Path]:
    """The four files from the first directory that has them all, downloading if allowed."""
    looked = []
    for directory in _candidate_dirs(root):
        found = _find_files(directory)
        if isinstance(found, dict):
            return found
        why = "no such directory" if not directory.is_dir() else "missing " + ", ".join(found)
        looked.append(f"  {directory} ({why})")
    note = "download=False"
    if download:
        env = os.environ.get("NC_DATA_DIR")
        dest = Path(root) if root is not None else Path(env) if env else Path.cwd() / LOCAL_DIR
        try:
            _download(dest)
        except (ImportError, OSError, RuntimeError) as err:  # torchvision raises RuntimeError
            note = f"download into {dest} failed: {str(err).strip()}"
        else:
            found = _find_files(dest / TORCHVISION_SUBDIR)
            if isinstance(found, dict):
                return found
            note = f"download into {dest} left {dest / TORCHVISION_SUBDIR} without " + ", ".join(
                found
            )
    raise DataError(
        "Fashion-MNIST IDX files not found. Looked in:\n"
        + "\n".join(looked)
        + f"\n{note}.\n{HOW_TO_GET}"
    )


def load_fashion_mnist(
    root: str | os.PathLike | None = None, *, download: bool = True
) -> tuple[Split, Split]:
    """Fashion-MNIST (train 60000, test 10000) as CPU splits, pixels scaled to [0, 1].

    Reads from the first directory holding all four IDX files (each `.gz` or not), in order:
    `root`, `$NC_DATA_DIR`, `./data/fashion-mnist`, `DEBIAN_DIR`; each also as
    `<dir>/FashionMNIST/raw` (torchvision's layout). If none has them and `download` is true,
    torchvision downloads them under `root`, else `$NC_DATA_DIR`, else `./data/fashion-mnist`.
    Raises `DataError` naming the file at fault, or every place looked.
    """
    paths = _resolve(root, download)
    arrays = {
        part: _read_idx(paths[part], magic, shape) for part, (_, magic, shape) in FILES.items()
    }
    splits = []
    for name in ("train", "test"):
        labels = arrays[f"{name}_y"]
        if labels.max() >= NUM_CLASSES:
            raise DataError(
                f"{paths[f'{name}_y']}: label {int(labels.max())} outside "
                f"0..{NUM_CLASSES - 1}; the file is corrupt. {HOW_TO_GET}"
            )
        x = torch.from_numpy(arrays[f"{name}_x"].astype(np.float32) / np.float32(255))
        y = torch.from_numpy(labels.astype(np.int64))  # (N,)
        splits.append(Split(x.unsqueeze(1), y))  # x: (N, 1, 28, 28)
    return splits[0], splits[1]


# ---------------------------------------------------------------------------- synthetic


def synthetic_classes(
    num_classes: int,
    dim: int,
    n_per_class: int,
    *,
    seed: int,
    n_test_per_class: int | None = None,
    spread: float = 1.0,
) -> tuple[Split, Split]:
    """Gaussian classes `x = mu_k + spread * z`, z ~ N(0, I), sharing centres `mu_k` train/test.

    Centres have norm `10 * spread`; when `dim >= num_classes` they are orthonormal directions of
    a random rotation, so any two are `10 * sqrt(2) * spread` apart and nearest-class-mean errs
    with probability about Phi(-7) per pair. With `dim < num_classes` the directions are random
    and two centres may lie close. Samples are grouped by class; deterministic in `seed`.
    """
    n_test = max(n_per_class // 5, 1) if n_test_per_class is None else n_test_per_class
    for name, value in (
        ("num_classes", num_classes),
        ("dim", dim),
        ("n_per_class", n_per_class),
        ("n_test_per_class", n_test),
    ):
        if value < 1:
            raise ValueError(f"synthetic_classes: {name}={value}, expected an integer >= 1")
    if not spread > 0:
        raise ValueError(f"synthetic_classes: spread={spread}, expected a positive float")
    gen = torch.Generator().manual_seed(seed)
    if dim >= num_classes:
        q, _ = torch.linalg.qr(torch.randn(dim, num_classes, generator=gen))  # (dim, K)
        mu = q.T  # (K, dim) orthonormal rows
    else:
        mu = torch.randn(num_classes, dim, generator=gen)  # (K, dim)
        mu = mu / mu.norm(dim=1, keepdim=True)
    mu = 10.0 * spread * mu  # (K, dim)

    def draw(n: int) -> Split:
        y = torch.arange(num_classes).repeat_interleave(n)  # (K * n,)
        x = mu[y] + spread * torch.randn(num_classes * n, dim, generator=gen)  # (K * n, dim)
        return Split(x.float(), y)

    train = draw(n_per_class)  # drawn first: the train set does not depend on n_test
    return train, draw(n_test)


# ---------------------------------------------------------------------------- subsets, batches


def stratified_subset(split: Split, n_per_class: int) -> Split:
    """The first `n_per_class` samples of each class, kept in their original relative order."""
    if n_per_class < 1:
        raise ValueError(f"stratified_subset: n_per_class={n_per_class}, expected >= 1")
    counts = torch.bincount(split.y, minlength=split.num_classes)  # (K,)
    short = (counts < n_per_class).nonzero().flatten().tolist()
    if short:
        k = short[0]
        raise ValueError(
            f"stratified_subset: class {k} has {int(counts[k])} samples, fewer than "
            f"n_per_class={n_per_class} (classes short: {short}); lower n_per_class"
        )
    order = torch.argsort(split.y, stable=True)  # (N,) grouped by class, original order inside
    starts = torch.cumsum(counts, 0) - counts  # (K,) first position of each class in `order`
    rank = torch.arange(len(split), device=split.y.device) - starts[split.y[order]]  # (N,)
    keep = order[rank < n_per_class].sort().values  # (K * n,) back in original order
    return Split(split.x[keep], split.y[keep])


def batches(
    split: Split, batch_size: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = True
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches `(x, y)` covering `split` once, last partial batch included.

    Shuffled by a permutation from a CPU generator seeded with `seed * 1_000_003 + epoch`: the
    same order for the same (seed, epoch) on any device, a new one each epoch. `shuffle=False`
    gives the natural order. Arguments are checked here, before the first batch is asked for.
    """
    if batch_size < 1:
        raise ValueError(f"batches: batch_size={batch_size}, expected an integer >= 1")
    if seed < 0 or epoch < 0:
        raise ValueError(f"batches: seed={seed}, epoch={epoch}, expected both >= 0")
    order = None
    if shuffle:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(len(split), generator=gen).to(split.x.device)  # (N,)
    return _iterate(split, batch_size, order)


def _iterate(
    split: Split, batch_size: int, order: torch.Tensor | None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, len(split), batch_size):
        if order is None:
            yield split.x[start : start + batch_size], split.y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]  # (B,)
            yield split.x[idx], split.y[idx]
