"""Small files in the real on-disk formats, laid out as torchvision keeps them: the MNIST
family's IDX files (`ROOT/<Class>/raw/`, gzipped or not) and the python pickles of CIFAR-10
(`ROOT/cifar-10-batches-py/`) and CIFAR-100 (`ROOT/cifar-100-python/`). Their images are
learnable: each class brightens its own patch on top of noise."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

IMAGES, LABELS = 0x00000803, 0x00000801
IDX_NAMES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
CIFAR10_DIR, CIFAR100_DIR = "cifar-10-batches-py", "cifar-100-python"


def write_idx(path: Path, array: np.ndarray, magic: int, dims: tuple[int, ...] | None = None):
    """Write `array` (uint8) as an IDX file, gzipped when `path` ends in .gz."""
    dims = array.shape if dims is None else dims
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in dims)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw, compresslevel=1) if path.suffix == ".gz" else raw)


def class_images(
    labels: np.ndarray, channels: int, side: int, num_classes: int, seed: int
) -> np.ndarray:
    """uint8 images (N, C, side, side): noise plus a bright patch whose place is the class."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, (len(labels), channels, side, side)).astype(np.uint8)
    grid = int(np.ceil(np.sqrt(num_classes)))
    cell = side // grid
    for i, k in enumerate(labels):
        r, c = divmod(int(k), grid)
        x[i, :, r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] = 230
    return x


def balanced_labels(n_per_class: int, num_classes: int, seed: int) -> np.ndarray:
    """Each class `n_per_class` times, shuffled."""
    y = np.repeat(np.arange(num_classes), n_per_class)
    return np.random.default_rng(seed).permutation(y).astype(np.uint8)


def mnist_arrays(train_per_class: int = 10, test_per_class: int = 3, seed: int = 0) -> dict:
    """The four arrays of a small MNIST-format release: images (N, 28, 28), labels (N,)."""
    arrays = {}
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        y = balanced_labels(n, 10, seed + (split == "test"))
        arrays[f"{split}_x"] = class_images(y, 1, 28, 10, seed)[:, 0]
        arrays[f"{split}_y"] = y
    return arrays


def write_mnist_family(
    root: Path, folder: str, arrays: dict | None = None, *, gz: bool = True
) -> Path:
    """ROOT/<folder>/raw/ with the four IDX files (`folder`: MNIST, KMNIST, FashionMNIST)."""
    arrays = mnist_arrays() if arrays is None else arrays
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for part, name in IDX_NAMES.items():
        magic = IMAGES if part.endswith("_x") else LABELS
        write_idx(raw / (name + (".gz" if gz else "")), arrays[part], magic)
    return raw


def _dump(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # the protocol of the released files


def cifar_arrays(num_classes: int, train_per_class: int, test_per_class: int, seed: int = 0):
    """(train, test), each (images (N, 3072) uint8 as the release stores them, labels list)."""
    out = []
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        y = np.repeat(np.arange(num_classes), n)
        y = np.random.default_rng(seed + (split == "test")).permutation(y)
        x = class_images(y, 3, 32, num_classes, seed).reshape(len(y), -1)
        out.append((x, [int(v) for v in y]))
    return out


def write_cifar10(root: Path, train_per_class: int = 5, test_per_class: int = 2) -> Path:
    """ROOT/cifar-10-batches-py/: data_batch_1..5, test_batch, batches.meta (train split in 5)."""
    folder = root / CIFAR10_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (x, y), (xt, yt) = cifar_arrays(10, train_per_class, test_per_class)
    parts = np.array_split(np.arange(len(y)), 5)
    for i, idx in enumerate(parts, start=1):
        _dump(
            folder / f"data_batch_{i}",
            {
                "batch_label": f"training batch {i} of 5",
                "labels": [y[j] for j in idx],
                "data": x[idx],
                "filenames": [f"img_{j}.png" for j in idx],
            },
        )
    _dump(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": yt, "data": xt})
    names = ["airplane", "automobile", "bird", "cat", "deer"]
    names += ["dog", "frog", "horse", "ship", "truck"]
    _dump(folder / "batches.meta", {"label_names": names, "num_cases_per_batch": 10000})
    return folder


def write_cifar100(root: Path, train_per_class: int = 2, test_per_class: int = 1) -> Path:
    """ROOT/cifar-100-python/: train, test, meta (fine and coarse labels)."""
    folder = root / CIFAR100_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in zip(
        ("train", "test"), cifar_arrays(100, train_per_class, test_per_class), strict=True
    ):
        _dump(
            folder / name,
            {
                "batch_label": f"{name}ing batch 1 of 1",
                "fine_labels": y,
                "coarse_labels": [k // 5 for k in y],
                "data": x,
                "filenames": [f"img_{j}.png" for j in range(len(y))],
            },
        )
    _dump(
        folder / "meta",
        {
            "fine_label_names": [f"class_{k}" for k in range(100)],
            "coarse_label_names": [f"super_{k}" for k in range(20)],
        },
    )
    return folder
