"""CIFAR-10 (Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny Images"): 10
classes of 32x32 colour images, 5000 train and 1000 test each, read from torchvision's folder
`ROOT/cifar-10-batches-py/` (the python version; `nc_core.data.cifar`, which says why these
pickles are read only from the folder you name or from torchvision's checked download).

Normalised per channel by the train split's own mean and std, computed when loaded
(`nc_core.data.files`). The split is held in memory as it is; `augment=crop_flip` crops and
flips train batches (`nc_core.data.augment`).
"""

from __future__ import annotations

from nc_core.data.cifar import CIFARRelease
from nc_core.data.registry import DataRequest, register_dataset
from nc_core.data.split import Split

CIFAR10 = CIFARRelease(
    title="CIFAR-10",
    folder="cifar-10-batches-py",
    torchvision_class="CIFAR10",
    train_files=(
        ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
        ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
        ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
        ("data_batch_4", "634d18415352ddfa80567beed471001a"),
        ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    ),
    test_files=(("test_batch", "40351d587109b95175f43aff81a1287e"),),
    meta_file=("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
    label_key="labels",
    names_key="label_names",
    num_classes=10,
)


@register_dataset(
    "cifar10",
    num_classes=10,
    input_shape=(3, 32, 32),
    train_per_class=5000,
    normalization="(x/255 - mean_c) / std_c per channel c, statistics of the train pixels",
    check=CIFAR10.check,
)
def load_cifar10(req: DataRequest) -> tuple[Split, Split]:
    """CIFAR-10 (Krizhevsky 2009): 10 classes of 32x32 colour images, 50000 train, 10000 test."""
    return CIFAR10.load(req)
