"""Data by name (`nc_core.data.registry`): each file holds one dataset's loader and registers it
with its classes and sample shape. Importing this package registers the built-in ones:
`fashion_mnist` (the IDX files) and `synthetic` (Gaussian classes, no download).
"""

from nc_core.data import fashion_mnist, synthetic  # noqa: F401  (each registers itself)
from nc_core.data.registry import DATASETS, DatasetEntry, get_dataset, load_dataset
from nc_core.data.split import Split, batches, stratified_subset

__all__ = [
    "DATASETS",
    "DatasetEntry",
    "Split",
    "batches",
    "get_dataset",
    "load_dataset",
    "stratified_subset",
]
