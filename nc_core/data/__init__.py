"""Data by name (`nc_core.data.registry`): each file holds one dataset's loader and registers it
with its classes and sample shape. Importing this package registers the built-in ones:
`fashion_mnist`, `mnist`, `kmnist` (IDX files), `cifar10`, `cifar100` (torchvision's python
pickles) and `synthetic` (Gaussian classes, no download).
"""

# Each registers itself; the order is the order of --dataset's choices.
from nc_core.data import fashion_mnist  # noqa: F401  # isort: skip
from nc_core.data import synthetic  # noqa: F401  # isort: skip
from nc_core.data import mnist  # noqa: F401  # isort: skip
from nc_core.data import kmnist  # noqa: F401  # isort: skip
from nc_core.data import cifar10  # noqa: F401  # isort: skip
from nc_core.data import cifar100  # noqa: F401  # isort: skip
from nc_core.data.registry import (
    DATASETS,
    DataError,
    DatasetEntry,
    check_dataset,
    get_dataset,
    load_dataset,
)
from nc_core.data.split import Split, batches, stratified_subset

__all__ = [
    "DATASETS",
    "DataError",
    "DatasetEntry",
    "Split",
    "batches",
    "check_dataset",
    "get_dataset",
    "load_dataset",
    "stratified_subset",
]
