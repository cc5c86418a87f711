"""Points in 8 dimensions of 3 classes, read from `blobs.npz`: the worked example of a dataset.

The file lives in the folder named by NC_DATA_DIR and holds four arrays: x_train (N, 8) float,
y_train (N,) int in [0, 3), x_test, y_test. One file registers the dataset with its classes, the
shape of one sample, and the train samples of its smallest class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nc_core.data.registry import DataRequest, register_dataset
from nc_core.data.split import Split

FILE = "blobs.npz"


@register_dataset("blobs", num_classes=3, input_shape=(8,), train_per_class=100)
def load_blobs(req: DataRequest) -> tuple[Split, Split]:
    """(train, test) from NC_DATA_DIR/blobs.npz."""
    path = (req.root or Path(".")) / FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; set NC_DATA_DIR to the folder of {FILE}")
    with np.load(path) as f:
        parts = [torch.from_numpy(f[k]) for k in ("x_train", "y_train", "x_test", "y_test")]
    x_train, y_train, x_test, y_test = parts
    return Split(x_train.float(), y_train.long()), Split(x_test.float(), y_test.long())
