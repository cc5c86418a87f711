"""Kuzushiji-MNIST (Clanuwat et al. 2018, arXiv 1812.01718): 10 classes of 28x28 cursive
Japanese characters, 6000 train and 1000 test each, read from torchvision's folder
`ROOT/KMNIST/raw/` (`nc_core.data.idx`).

Normalised per channel by the train split's own mean and std, computed when loaded
(`nc_core.data.files`).
"""

from __future__ import annotations

from nc_core.data.idx import TorchvisionIDX
from nc_core.data.registry import DataRequest, register_dataset
from nc_core.data.split import Split

KMNIST = TorchvisionIDX(title="Kuzushiji-MNIST", folder="KMNIST")


@register_dataset(
    "kmnist",
    num_classes=10,
    input_shape=(1, 28, 28),
    train_per_class=6000,
    normalization="(x/255 - mean) / std, mean and std of the train pixels",
    check=KMNIST.check,
)
def load_kmnist(req: DataRequest) -> tuple[Split, Split]:
    """Kuzushiji-MNIST (Clanuwat et al. 2018): 10 classes of 28x28 grey characters."""
    return KMNIST.load(req)
