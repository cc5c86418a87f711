"""ResNet-18 (He, Zhang, Ren & Sun 2016) for 32x32 images, registered as the model `resnet18`.

torchvision's resnet18 (`torchvision.models.ResNet` with BasicBlocks [2, 2, 2, 2], as
`resnet18(weights=None)` builds it, so no pretrained weights), with the stem commonly used for
CIFAR: a 3x3 convolution of stride 1 over the image's own channels (1 for grey images: the first
conv takes 1 channel) and no max-pool, so the 32x32 input is downsampled only by the stages
(32, 16, 8, 4). Smaller inputs (the MNIST family's 28x28) are padded to 32x32 first
(`conv_parts.PadTo`, the model's first module). It has no size option: torchvision's widths are
fixed (64, 128, 256, 512); its smoke size is the network itself on a smoke run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from nc_core.models.adapter import ModelAdapter
from nc_core.models.conv_parts import PadTo, check_images, conv_names, pooled
from nc_core.models.registry import BuildContext, register_model

STAGES = (2, 2, 2, 2)  # BasicBlocks per stage: ResNet-18


@dataclass(frozen=True)
class ResNet18Options:
    """ResNet-18 has no options: its widths and depths are torchvision's."""

    def check(self, ctx: BuildContext) -> None:
        """Images (C, H, W)."""
        check_images("resnet18", ctx)


class CIFARResNet18(ResNet):
    """torchvision's ResNet-18 with the CIFAR stem; knows nothing of measurement."""

    def __init__(self, *, channels: int = 3, num_classes: int = 10):
        super().__init__(BasicBlock, list(STAGES), num_classes=num_classes)
        self.pad = PadTo()
        self.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(
            self.conv1.weight, mode="fan_out", nonlinearity="relu"
        )  # as torchvision
        self.maxpool = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W), padded to at least 32x32 -> logits (B, K)."""
        return super().forward(self.pad(x))


def block_names(model: ResNet) -> list[str]:
    """Every residual block, input to output: layer1.0, layer1.1, ..., layer4.1."""
    return [f"layer{s}.{b}" for s in range(1, 5) for b in range(len(getattr(model, f"layer{s}")))]


def resnet18_adapter(model: CIFARResNet18, opts: ResNet18Options | None = None) -> ModelAdapter:
    """Measured: the stem's output (`relu`), every residual block's output and the logits (`fc`);
    conv maps are global-average-pooled over space before the class statistics (`reduce`:
    (B, C, H, W) -> (B, C)). Fixing a block fixes each of its convs (conv1, conv2 and the 1x1
    downsample; `nc_core.fixing.etf.ETFConv2d`), its BatchNorms train on. Adaptive-ETF may fix
    every block and the classifier; the stem reads the pixels (the input layer)."""
    blocks = block_names(model)
    layers = ("relu", *blocks, "fc")
    return ModelAdapter(
        layers=layers,
        penultimate="avgpool",
        reduce=pooled,
        linears={"relu": ("conv1",), **{b: conv_names(model, b) for b in blocks}, "fc": ("fc",)},
        activations={"relu": "relu", **{b: b for b in blocks}},
        adaptive=(*blocks, "fc"),
        input_layer="relu",
    )


@register_model("resnet18", options=ResNet18Options, adapter=resnet18_adapter, presets={})
def build_resnet18(opts: ResNet18Options, ctx: BuildContext) -> CIFARResNet18:
    """torchvision's ResNet-18 with the CIFAR stem (3x3 conv, stride 1, no max-pool)."""
    return CIFARResNet18(channels=ctx.input_shape[0], num_classes=ctx.num_classes)
