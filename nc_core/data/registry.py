"""The dataset registry: a dataset is one file that registers its loader and its shape.

    @register_dataset("blobs", num_classes=3, input_shape=(8,), train_per_class=100)
    def load_blobs(req: DataRequest) -> tuple[Split, Split]:
        ...

An entry says what a run is checked against before any data is loaded: the number of classes K
(None: set by the run's `num_classes`, as for synthetic data), the shape of one sample, and the
train samples of the smallest class (the most a stratified `subset` can take). `load` returns
the full (train, test) splits on the CPU; subsets are taken by the training loop. A dataset
read from files may register `check`, which a run's checks call before any work
(`check_dataset`): it raises `DataError` naming the first missing, truncated or corrupt file
where `load` would read, and passes where `load` would download.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nc_core.data.split import Split
from nc_core.registry import Registry

DATA_DIR_ENV = "NC_DATA_DIR"
# The folder the default data paths (./data) are relative to: the working directory, or for a
# study's trials, which Tune runs in their own folders, the driver's (set by nc_core.tune).
WORK_DIR_ENV = "NC_WORK_DIR"


class DataError(RuntimeError, ValueError):
    """Data missing, truncated or corrupt; the message names the file or places and the fix.

    A ValueError too, so the command lines show it as their one-line error of bad input."""


@dataclass(frozen=True)
class DataRequest:
    """What a loader is asked for: where to look first, and, for generated data, the seed and
    the number of classes of the run."""

    root: Path | None  # a folder given by the user ($NC_DATA_DIR), looked in first
    seed: int = 0
    num_classes: int = 10


Loader = Callable[[DataRequest], tuple[Split, Split]]
Checker = Callable[[DataRequest], None]


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset."""

    name: str
    load: Loader
    num_classes: int | None  # K; None: the run's num_classes (generated data)
    input_shape: tuple[int, ...]  # one sample: (C, H, W) or (D,)
    train_per_class: int  # train samples of the smallest class
    normalization: str = ""  # how pixels are scaled, for the docs and the report
    check: Checker | None = None  # raises DataError for a missing or bad file; None: none read
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
    check: Checker | None = None,
) -> Callable[[Loader], Loader]:
    """Decorator: register the decorated `load(request) -> (train, test)` as dataset `name`;
    `check(request)`, if given, raises DataError where `load` would fail on its files."""
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
                check=check,
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


def work_dir() -> Path:
    """Where `./data` is: $NC_WORK_DIR (a study's trials: the driver's working directory), else
    the working directory."""
    value = os.environ.get(WORK_DIR_ENV)
    return Path(value) if value else Path.cwd()


def data_root() -> Path | None:
    """The folder named by $NC_DATA_DIR, if set."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value) if value else None


def data_request(*, seed: int = 0, num_classes: int = 10) -> DataRequest:
    """The request every loader of this process gets: $NC_DATA_DIR as its root."""
    return DataRequest(root=data_root(), seed=seed, num_classes=num_classes)


def check_dataset(name: str, *, seed: int = 0, num_classes: int = 10) -> None:
    """Raise DataError when dataset `name`'s files, where its loader would read them, are
    missing, truncated or corrupt (its registered `check`; nothing for generated data)."""
    entry = get_dataset(name)
    if entry.check is not None:
        entry.check(data_request(seed=seed, num_classes=num_classes))


def load_dataset(name: str, *, seed: int = 0, num_classes: int = 10) -> tuple[Split, Split]:
    """(train, test) of dataset `name`, as its loader gives them."""
    entry = get_dataset(name)
    return entry.load(data_request(seed=seed, num_classes=num_classes))
