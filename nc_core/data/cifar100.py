"""CIFAR-100 (Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny Images"): 100
classes (the fine labels) of 32x32 colour images, 500 train and 100 test each, read from
torchvision's folder `ROOT/cifar-100-python/` (the python version; `nc_core.data.cifar`, which
says why these pickles are read only from the folder you name or from torchvision's checked
download).

Normalised per channel by the train split's own mean and std, computed when loaded
(`nc_core.data.files`). The split is held in memory as it is; `augment=crop_flip` crops and
flips train batches (`nc_core.data.augment`).
"""

from __future__ import annotations

from nc_core.data.cifar import CIFARRelease
from nc_core.data.registry import DataRequest, register_dataset
from nc_core.data.split import Split

CIFAR100 = CIFARRelease(
    title="CIFAR-100",
    folder="cifar-100-python",
    torchvision_class="CIFAR100",
    train_files=(("train", "16019d7e3df5f24257cddd939b257f8d"),),
    test_files=(("test", "f0ef6b0ae62326f3e7ffdfab6717acfc"),),
    meta_file=("meta", "7973b15100ade9c7d40fb424638fde48"),
    label_key="fine_labels",
    names_key="fine_label_names",
    num_classes=100,
)


@register_dataset(
    "cifar100",
    num_classes=100,
    input_shape=(3, 32, 32),
    train_per_class=500,
    normalization="(x/255 - mean_c) / std_c per channel c, statistics of the train pixels",
    check=CIFAR100.check,
)
def load_cifar100(req: DataRequest) -> tuple[Split, Split]:
    """CIFAR-100 (Krizhevsky 2009): 100 fine classes of 32x32 colour images, 500 train each."""
    return CIFAR100.load(req)
