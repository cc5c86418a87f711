"""MNIST (LeCun, Bottou, Bengio & Haffner 1998): 10 classes of 28x28 handwritten digits, read
from torchvision's folder `ROOT/MNIST/raw/` (`nc_core.data.idx`).

Normalised per channel by the train split's own mean and std, computed when loaded
(`nc_core.data.files`); on the released files these are the 0.1307 and 0.3081 of PyTorch's
MNIST example. The smallest train class (the digit 5) has 5421 images.
"""

from __future__ import annotations

from nc_core.data.idx import TorchvisionIDX
from nc_core.data.registry import DataRequest, register_dataset
from nc_core.data.split import Split

MNIST = TorchvisionIDX(title="MNIST", folder="MNIST")


@register_dataset(
    "mnist",
    num_classes=10,
    input_shape=(1, 28, 28),
    train_per_class=5421,
    normalization="(x/255 - mean) / std, mean and std of the train pixels (0.1307, 0.3081)",
    check=MNIST.check,
)
def load_mnist(req: DataRequest) -> tuple[Split, Split]:
    """MNIST (LeCun et al. 1998): 10 classes of 28x28 grey digits, 60000 train, 10000 test."""
    return MNIST.load(req)
