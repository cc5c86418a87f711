"""The dataset registry: a dataset is one file that registers its loader and its shape.

    @register_dataset("blobs", num_classes=3, input_shape=(8,), train_per_class=100)
    def load_blobs(req: DataRequest) -> tuple[Split, Split]:
        ...

An entry says what a run is checked against before any data is loaded: the number of classes K
(None: set by the run's `num_classes`, as for synthetic data), the shape of one sample, and the
train samples of the smallest class (the most a stratified `subset` can take). `load` returns
the full (train, test) splits on the CPU; subsets are taken by the training loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nc_core.data.split import Split
from nc_core.registry import Registry

DATA_DIR_ENV = "NC_DATA_DIR"


@dataclass(frozen=True)
class DataRequest:
    """What a loader is asked for: where to look first, and, for generated data, the seed and
    the number of classes of the run."""

    root: Path | None  # a folder given by the user ($NC_DATA_DIR), looked in first
    seed: int = 0
    num_classes: int = 10


Loader = Callable[[DataRequest], tuple[Split, Split]]


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset."""

    name: str
    load: Loader
    num_classes: int | None  # K; None: the run's num_classes (generated data)
    input_shape: tuple[int, ...]  # one sample: (C, H, W) or (D,)
    train_per_class: int  # train samples of the smallest class
    normalization: str = ""  # how pixels are scaled, for the docs and the report
    module: str = ""
    doc: str = ""


DATASETS: Registry[DatasetEntry] = Registry("dataset")


def register_dataset(
    name: str,
    *,
    num_classes: int | None,
    input_shape: tuple[int, ...],
    train_per_class: int,
    normalization: str = "",
) -> Callable[[Loader], Loader]:
    """Decorator: register the decorated `load(request) -> (train, test)` as dataset `name`."""
    if num_classes is not None and num_classes < 2:
        raise ValueError(f"register_dataset({name!r}): num_classes={num_classes}, need >= 2")
    if not input_shape or min(input_shape) < 1 or train_per_class < 1:
        raise ValueError(f"register_dataset({name!r}): invalid input_shape or train_per_class")

    def decorate(load: Loader) -> Loader:
        DATASETS.add(
            name,
            DatasetEntry(
                name=name,
                load=load,
                num_classes=num_classes,
                input_shape=tuple(input_shape),
                train_per_class=train_per_class,
                normalization=normalization,
                module=load.__module__,
                doc=(load.__doc__ or "").strip().split("\n")[0],
            ),
            module=load.__module__,
        )
        return load

    return decorate


def get_dataset(name: str) -> DatasetEntry:
    """The registered dataset `name` (ValueError naming the known ones otherwise)."""
    return DATASETS.get(name)


def data_root() -> Path | None:
    """The folder named by $NC_DATA_DIR, if set."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value) if value else None


def load_dataset(name: str, *, seed: int = 0, num_classes: int = 10) -> tuple[Split, Split]:
    """(train, test) of dataset `name`, as its loader gives them."""
    entry = get_dataset(name)
    return entry.load(DataRequest(root=data_root(), seed=seed, num_classes=num_classes))
