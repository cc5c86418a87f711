"""Networks by name (`nc_core.models.registry`): each file holds one model, its options, its
adapter (what is measured and fixed) and its registration. Importing this package registers the
built-in ones: `mlp` (the paper's MLP), `vit` (the ETF-Transformer's ViT), `cnn` (a small CNN),
`resnet18` and `vgg11_bn` (torchvision's, for 32x32 images), `resnet_mlp` (a ResNet-20-style
backbone and an MLP head).
"""

# Each registers itself; the order is the order of --model's choices.
from nc_core.models import mlp  # noqa: F401  # isort: skip
from nc_core.models import vit_fixing  # noqa: F401  # isort: skip
from nc_core.models import cnn  # noqa: F401  # isort: skip
from nc_core.models import resnet18  # noqa: F401  # isort: skip
from nc_core.models import vgg11_bn  # noqa: F401  # isort: skip
from nc_core.models import resnet_mlp  # noqa: F401  # isort: skip
from nc_core.models.registry import MODELS, BuildContext, ModelEntry, get_model, register_model

__all__ = ["MODELS", "BuildContext", "ModelEntry", "get_model", "register_model"]
