"""A small CNN whose linear head can be fixed: the smallest worked example of a model file.

conv1 (C -> 8, 3x3) ReLU, 2x2 max-pool, conv2 (8 -> 8) ReLU, 2x2 max-pool, then the head:
fc1 (8*(H/4)*(W/4) -> width) ReLU, fc2 (width -> width) ReLU, classifier (width -> K). The
model knows nothing of measurement; `cnn_adapter` says what is measured and fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from nc_core.models.adapter import ModelAdapter
from nc_core.models.registry import BuildContext, register_model


@dataclass(frozen=True)
class CNNOptions:
    """The small CNN's part of a run's configuration (column cnn_width)."""

    width: int = field(default=64, metadata={"help": "CNN head width", "min": 2})

    def check(self, ctx: BuildContext) -> None:
        """Images (C, H, W) with H and W at least 4 (two 2x2 poolings)."""
        if len(ctx.input_shape) != 3 or min(ctx.input_shape[1:]) < 4:
            raise ValueError(
                f"RunConfig.model='cnn': needs images (C, H, W) with H, W >= 4, the dataset "
                f"gives samples of shape {ctx.input_shape}"
            )


class SmallCNN(nn.Module):
    def __init__(
        self,
        *,
        channels: int = 1,
        size: tuple[int, int] = (28, 28),
        width: int = 64,
        num_classes: int = 10,
    ):
        super().__init__()
        if width < 1 or num_classes < 2:
            raise ValueError(f"SmallCNN width={width}, num_classes={num_classes}: invalid")
        self.conv1, self.act_c1 = nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU()
        self.conv2, self.act_c2 = nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        flat = 8 * (size[0] // 4) * (size[1] // 4)
        self.fc1, self.act1 = nn.Linear(flat, width), nn.ReLU()
        self.fc2, self.act2 = nn.Linear(width, width), nn.ReLU()
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images x (B, C, H, W) -> logits (B, K)."""
        h = self.pool(self.act_c1(self.conv1(x)))  # (B, 8, H/2, W/2)
        h = self.pool(self.act_c2(self.conv2(h))).flatten(1)  # (B, 8*(H/4)*(W/4))
        h = self.act2(self.fc2(self.act1(self.fc1(h))))  # (B, width)
        return self.classifier(h)  # (B, K)


def cnn_adapter(model: SmallCNN, opts: CNNOptions | None = None) -> ModelAdapter:
    """The second conv block (flattened) and the head's linears are measured; the head's
    linears can be fixed, the convolutions cannot."""
    return ModelAdapter(
        layers=("conv2", "fc1", "fc2", "classifier"),
        penultimate="act2",
        reduce=None,
        linears={"conv2": (), "fc1": ("fc1",), "fc2": ("fc2",), "classifier": ("classifier",)},
        activations={"conv2": "act_c2", "fc1": "act1", "fc2": "act2"},
        adaptive=("fc1", "fc2", "classifier"),
        input_layer=None,
    )


@register_model("cnn", options=CNNOptions, adapter=cnn_adapter, presets={"smoke": {"width": 32}})
def build_cnn(opts: CNNOptions, ctx: BuildContext) -> SmallCNN:
    """Two conv blocks and a three-linear head; the head can be fixed."""
    channels, height, width = ctx.input_shape
    return SmallCNN(
        channels=channels, size=(height, width), width=opts.width, num_classes=ctx.num_classes
    )
