"""Networks by name (`nc_core.models.registry`): each file holds one model, its options, its
adapter (what is measured and fixed) and its registration. Importing this package registers the
built-in ones: `mlp` (the paper's MLP), `vit` (the ETF-Transformer's ViT), `cnn` (a small CNN).
"""

from nc_core.models import cnn, mlp, vit_fixing  # noqa: F401  (each registers itself)
from nc_core.models.registry import MODELS, BuildContext, ModelEntry, get_model, register_model

__all__ = ["MODELS", "BuildContext", "ModelEntry", "get_model", "register_model"]
