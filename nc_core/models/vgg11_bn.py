"""VGG-11 with BatchNorm (Simonyan & Zisserman 2015, configuration A) for 32x32 images,
registered as the model `vgg11_bn`.

torchvision's vgg11_bn (`torchvision.models.VGG`: its features `make_layers(cfgs["A"],
batch_norm=True)`, its forward and its initialisation; no pretrained weights), changed for
32x32 inputs:

- the first conv reads the image's own channels (1 for grey images);
- after five 2x2 max-pools a 32x32 image is a 1x1 map, so the average pool is global
  (AdaptiveAvgPool2d(1): the identity at 32x32) instead of torchvision's 7x7, which would copy
  that one pixel 49 times into a 25088-wide classifier;
- the classifier keeps torchvision's shape (linear, ReLU, dropout, linear, ReLU, dropout, linear)
  with `head_width` units (default 512) instead of 4096, reading the 8 * width features;
  its ReLUs are not in place, so the tapped linear outputs stay as they were;
- `width` scales every stage (64, 128, 256, 512, 512 at the default 64), for smoke runs.

Smaller inputs (the MNIST family's 28x28) are padded to 32x32 first (`conv_parts.PadTo`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torchvision.models.vgg import VGG, cfgs, make_layers

from nc_core.models.adapter import ModelAdapter
from nc_core.models.conv_parts import PadTo, check_canonical_width, check_images, pooled
from nc_core.models.registry import BuildContext, register_model

CONFIG = "A"  # VGG-11


@dataclass(frozen=True)
class VGG11Options:
    """VGG-11-BN's part of a run's configuration (columns vgg11_bn_width ...)."""

    width: int = field(
        default=64, metadata={"help": "VGG width of the first stage (x2 per stage to 8x)", "min": 1}
    )
    head_width: int = field(
        default=512, metadata={"help": "VGG hidden units of the two classifier layers", "min": 2}
    )
    dropout: float = field(
        default=0.5, metadata={"help": "VGG dropout before the classifier's linears", "min": 0.0}
    )

    def check(self, ctx: BuildContext) -> None:
        """Images (C, H, W); dropout below 1; a canonical classifier as wide as K."""
        check_images("vgg11_bn", ctx)
        if not self.dropout < 1.0:
            raise ValueError(f"RunConfig.vgg11_bn_dropout={self.dropout}: must lie in [0, 1)")
        check_canonical_width("vgg11_bn", "head_width", self.head_width, ctx)


def stage_config(width: int) -> list[int | str]:
    """torchvision's configuration A with every width scaled by width / 64."""
    return [v if v == "M" else max(1, v * width // 64) for v in cfgs[CONFIG]]


class CIFARVGG11(VGG):
    """torchvision's VGG-11-BN for 32x32 images (module docstring); knows nothing of
    measurement."""

    def __init__(
        self,
        *,
        channels: int = 3,
        num_classes: int = 10,
        width: int = 64,
        head_width: int = 512,
        dropout: float = 0.5,
    ):
        config = stage_config(width)
        # VGG.__init__ would first build torchvision's 25088 x 4096 classifier only to replace
        # it: the parts are set here instead, and initialised as VGG.__init__ initialises them.
        nn.Module.__init__(self)
        self.pad = PadTo()
        self.features = make_layers(config, batch_norm=True)
        self.features[0] = nn.Conv2d(channels, config[0], kernel_size=3, padding=1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(config[-2], head_width),  # the last stage's channels
            nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(head_width, head_width),
            nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(head_width, num_classes),
        )
        for m in self.modules():  # VGG.__init__'s initialisation (init_weights=True)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W), padded to at least 32x32 -> logits (B, K)."""
        return super().forward(self.pad(x))


def conv_units(model: VGG) -> list[tuple[str, str]]:
    """(conv, its ReLU) of every conv-BN-ReLU unit of `model.features`, input to output."""
    mods = list(model.features.named_children())
    units = []
    for i, (name, m) in enumerate(mods):
        if isinstance(m, nn.Conv2d):
            relu = next(n for n, r in mods[i + 1 :] if isinstance(r, nn.ReLU))
            units.append((f"features.{name}", f"features.{relu}"))
    return units


def vgg_adapter(model: CIFARVGG11, opts: VGG11Options | None = None) -> ModelAdapter:
    """Measured: each conv-BN-ReLU unit's output (its ReLU) and each classifier linear's output;
    conv maps are global-average-pooled over space before the class statistics (`reduce`:
    (B, C, H, W) -> (B, C)). Fixing a unit fixes its conv (`nc_core.fixing.etf.ETFConv2d`), its
    BatchNorm trains on. Adaptive-ETF may fix every unit and linear but the first unit, which
    reads the pixels (the input layer)."""
    units = conv_units(model)
    head = [f"classifier.{i}" for i, m in enumerate(model.classifier) if isinstance(m, nn.Linear)]
    head_acts = {name: f"classifier.{int(name.split('.')[1]) + 1}" for name in head[:-1]}
    layers = (*[relu for _, relu in units], *head)
    return ModelAdapter(
        layers=layers,
        penultimate=head_acts[head[-2]],
        reduce=pooled,
        linears={**{relu: (conv,) for conv, relu in units}, **{h: (h,) for h in head}},
        activations={**{relu: relu for _, relu in units}, **head_acts},
        adaptive=layers,
        input_layer=units[0][1],
    )


@register_model(
    "vgg11_bn",
    options=VGG11Options,
    adapter=vgg_adapter,
    presets={"smoke": {"width": 8, "head_width": 32}},
)
def build_vgg11_bn(opts: VGG11Options, ctx: BuildContext) -> CIFARVGG11:
    """torchvision's VGG-11-BN for 32x32 images: global pool, a classifier of head_width."""
    return CIFARVGG11(
        channels=ctx.input_shape[0],
        num_classes=ctx.num_classes,
        width=opts.width,
        head_width=opts.head_width,
        dropout=opts.dropout,
    )
