"""A small ResNet backbone followed by an MLP head, registered as the model `resnet_mlp`: the
deep-neural-collapse setting, where Adaptive-ETF acts on the head exactly as on the paper's MLP.

Backbone, ResNet-20 style (He et al. 2016, sec. 4.2, CIFAR): a 3x3 stem conv (C -> w) with
BatchNorm and ReLU, then 3 stages of `blocks` BasicBlocks (torchvision's) of w, 2w, 4w channels
(w = `base_width`, 16 by default: 16/32/64), stages 2 and 3 starting with stride 2 (a 1x1 conv
and BatchNorm on the shortcut where the shape changes), then a global average pool. Head: as
the paper's MLP (`nc_core.models.mlp`), `head_depth` linears in all, fc1 (4w -> W), fc2 ...
(W -> W), each followed by BatchNorm1d (optional) and ReLU, then the classifier (W -> K), W =
`head_width`. Smaller inputs (the MNIST family's 28x28) are padded to 32x32 first
(`conv_parts.PadTo`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from nc_core.models.adapter import ModelAdapter
from nc_core.models.conv_parts import PadTo, check_canonical_width, check_images, conv_names, pooled
from nc_core.models.registry import BuildContext, register_model

STAGES = 3


@dataclass(frozen=True)
class ResNetMLPOptions:
    """The ResNet-MLP's part of a run's configuration (columns resnet_mlp_base_width ...)."""

    base_width: int = field(
        default=16, metadata={"help": "ResNet-MLP backbone channels of stage 1 (x2, x4)", "min": 1}
    )
    blocks: int = field(
        default=3, metadata={"help": "ResNet-MLP BasicBlocks per stage (3: ResNet-20)", "min": 1}
    )
    head_depth: int = field(
        default=4,
        metadata={"help": "ResNet-MLP head linears in all, classifier included", "min": 2},
    )
    head_width: int = field(default=256, metadata={"help": "ResNet-MLP head width", "min": 2})
    head_batch_norm: bool = field(
        default=True, metadata={"help": "ResNet-MLP BatchNorm1d after each hidden head linear"}
    )

    def check(self, ctx: BuildContext) -> None:
        """Images (C, H, W); a canonical classifier as wide as K."""
        check_images("resnet_mlp", ctx)
        check_canonical_width("resnet_mlp", "head_width", self.head_width, ctx)


def _stage(in_ch: int, out_ch: int, blocks: int, stride: int) -> nn.Sequential:
    """`blocks` BasicBlocks, the first of stride `stride` (a projection shortcut if needed)."""
    down = None
    if stride != 1 or in_ch != out_ch:
        down = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
        )
    layers = [BasicBlock(in_ch, out_ch, stride, down)]
    layers += [BasicBlock(out_ch, out_ch) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNetMLP(nn.Module):
    """Pad -> stem -> 3 residual stages -> global pool -> MLP head; knows nothing of
    measurement."""

    def __init__(
        self,
        *,
        channels: int = 3,
        num_classes: int = 10,
        base_width: int = 16,
        blocks: int = 3,
        head_depth: int = 4,
        head_width: int = 256,
        head_batch_norm: bool = True,
    ):
        super().__init__()
        if head_depth < 2 or blocks < 1 or base_width < 1 or num_classes < 2:
            raise ValueError(
                f"ResNetMLP head_depth={head_depth}, blocks={blocks}, base_width={base_width}, "
                f"num_classes={num_classes}: invalid"
            )
        widths = [base_width * 2**s for s in range(STAGES)]  # w, 2w, 4w
        self.head_depth = head_depth
        self.pad = PadTo()
        self.conv1 = nn.Conv2d(channels, widths[0], 3, padding=1, bias=False)
        self.bn1, self.relu = nn.BatchNorm2d(widths[0]), nn.ReLU()
        for s, width in enumerate(widths, start=1):
            prev = widths[max(s - 2, 0)]
            setattr(self, f"layer{s}", _stage(prev, width, blocks, 1 if s == 1 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        for i in range(1, head_depth):
            setattr(self, f"fc{i}", nn.Linear(widths[-1] if i == 1 else head_width, head_width))
            norm = nn.BatchNorm1d(head_width) if head_batch_norm else nn.Identity()
            setattr(self, f"fc_bn{i}", norm)
            setattr(self, f"fc_act{i}", nn.ReLU())
        self.classifier = nn.Linear(head_width, num_classes)
        for m in self.modules():  # torchvision's ResNet initialisation for the convs
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W), padded to at least 32x32 -> logits (B, K)."""
        h = self.relu(self.bn1(self.conv1(self.pad(x))))  # (B, w, 32, 32)
        h = self.layer3(self.layer2(self.layer1(h)))  # (B, 4w, 8, 8)
        h = self.avgpool(h).flatten(1)  # (B, 4w)
        for i in range(1, self.head_depth):
            h = getattr(self, f"fc_act{i}")(getattr(self, f"fc_bn{i}")(getattr(self, f"fc{i}")(h)))
        return self.classifier(h)  # (B, K)


def resnet_mlp_adapter(model: ResNetMLP, opts: ResNetMLPOptions | None = None) -> ModelAdapter:
    """Measured: the stem's output (`relu`), every residual block's output, each head linear's
    output (before BatchNorm, as on the paper's MLP) and the logits; conv maps are
    global-average-pooled over space before the class statistics (`reduce`: (B, C, H, W) ->
    (B, C)). Adaptive-ETF fixes head layers only (fc1 ... classifier), exactly as on the MLP;
    the backbone is measured and trains. Fixing a block (`--policy static`) fixes its convs."""
    blocks = [
        f"layer{s}.{b}"
        for s in range(1, STAGES + 1)
        for b in range(len(getattr(model, f"layer{s}")))
    ]
    hidden = [f"fc{i}" for i in range(1, model.head_depth)]
    head = (*hidden, "classifier")
    return ModelAdapter(
        layers=("relu", *blocks, *head),
        penultimate=f"fc_act{model.head_depth - 1}",
        reduce=pooled,
        linears={
            "relu": ("conv1",),
            **{b: conv_names(model, b) for b in blocks},
            **{n: (n,) for n in head},
        },
        activations={
            "relu": "relu",
            **{b: b for b in blocks},
            **{n: f"fc_act{i}" for i, n in enumerate(hidden, start=1)},
        },
        adaptive=head,
        input_layer="relu",
    )


@register_model(
    "resnet_mlp",
    options=ResNetMLPOptions,
    adapter=resnet_mlp_adapter,
    presets={"smoke": {"base_width": 8, "blocks": 1, "head_depth": 3, "head_width": 32}},
)
def build_resnet_mlp(opts: ResNetMLPOptions, ctx: BuildContext) -> ResNetMLP:
    """A ResNet-20-style backbone (16/32/64 channels, 3 blocks a stage) and a 4-layer MLP head."""
    return ResNetMLP(
        channels=ctx.input_shape[0],
        num_classes=ctx.num_classes,
        base_width=opts.base_width,
        blocks=opts.blocks,
        head_depth=opts.head_depth,
        head_width=opts.head_width,
        head_batch_norm=opts.head_batch_norm,
    )
