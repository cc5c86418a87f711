"""What the convolutional networks share: padding small images to the size they were designed
for, global-average-pooled features for the class statistics, the convs a measured layer fixes,
and the check of an image input.

Padding is the model's (`PadTo`, its first module), not the loader's, so every dataset keeps the
sample shape it is registered with (Fashion-MNIST stays 28x28 for the MLP) and each network asks
for the size it needs. It replicates the border, 2 pixels a side for 28 -> 32: the MNIST
family's borders are background, so the frame is background whatever the normalisation (zeros
would be grey after subtracting the mean).
"""

from __future__ import annotations

import torch
from torch import nn

from nc_core.models.registry import BuildContext

CIFAR_SIDE = 32  # the input side the CIFAR versions of ResNet and VGG are built for


class PadTo(nn.Module):
    """Pad images (B, C, H, W) smaller than `side` to `side` x `side`, centred, replicating the
    border; larger or equal images pass unchanged."""

    def __init__(self, side: int = CIFAR_SIDE):
        super().__init__()
        self.side = side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, max(H, side), max(W, side))."""
        dh, dw = max(self.side - x.shape[-2], 0), max(self.side - x.shape[-1], 0)
        if not dh and not dw:
            return x
        pad = (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)  # left, right, top, bottom
        return nn.functional.pad(x, pad, mode="replicate")

    def extra_repr(self) -> str:
        """The side images are padded to."""
        return f"side={self.side}"


def pooled(output: torch.Tensor) -> torch.Tensor:
    """A tapped output as (B, D) features: a conv map (B, C, H, W) global-average-pooled over
    H and W to (B, C); anything else flattened. The mean makes a new tensor, so a later in-place
    ReLU cannot change what was tapped."""
    if output.dim() == 4:
        return output.mean(dim=(2, 3))  # (B, C)
    return output.reshape(output.shape[0], -1)  # (B, D)


def conv_names(model: nn.Module, prefix: str) -> tuple[str, ...]:
    """Dotted names of every nn.Conv2d inside submodule `prefix`, in module order."""
    sub = model.get_submodule(prefix)
    return tuple(
        f"{prefix}.{name}" for name, m in sub.named_modules() if isinstance(m, nn.Conv2d) and name
    )


def check_images(model: str, ctx: BuildContext) -> None:
    """ValueError unless the dataset gives images (C, H, W)."""
    if len(ctx.input_shape) != 3:
        raise ValueError(
            f"RunConfig.model={model!r}: needs images (C, H, W), the dataset gives samples of "
            f"shape {ctx.input_shape}"
        )


def check_canonical_width(model: str, option: str, width: int, ctx: BuildContext) -> None:
    """A canonical ETF classifier needs its input width >= K (as the MLP's, `MLPOptions`)."""
    if ctx.kind == "canonical" and width < ctx.num_classes:
        raise ValueError(
            f"RunConfig.{model}_{option}={width}: a canonical ETF classifier needs width >= "
            f"num_classes={ctx.num_classes} (K unit vectors of a simplex need K-1 dimensions)"
        )
