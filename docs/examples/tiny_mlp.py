"""A two-hidden-layer MLP, registered as the model `tiny_mlp`: the worked example of a model file.

One file holds the model, its options (flags `--width`, columns `tiny_mlp_width`), its adapter
(what is measured and which linears fixing a layer replaces) and its registration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from nc_core.models.adapter import ModelAdapter
from nc_core.models.registry import BuildContext, register_model


@dataclass(frozen=True)
class TinyMLPOptions:
    width: int = field(default=128, metadata={"help": "hidden width", "min": 2})


class TinyMLP(nn.Module):
    """x -> fc1 -> ReLU -> fc2 -> ReLU -> classifier; knows nothing of measurement."""

    def __init__(self, in_dim: int, width: int, num_classes: int):
        super().__init__()
        self.fc1, self.act1 = nn.Linear(in_dim, width), nn.ReLU()
        self.fc2, self.act2 = nn.Linear(width, width), nn.ReLU()
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act1(self.fc1(x.flatten(1)))  # (B, width)
        h = self.act2(self.fc2(h))  # (B, width)
        return self.classifier(h)  # (B, K)


def tiny_adapter(model: TinyMLP, opts: TinyMLPOptions) -> ModelAdapter:
    """Measured: both hidden linears and the logits; all three can be fixed but fc1 (it reads
    the raw input) unless a run passes --fix-input."""
    return ModelAdapter(
        layers=("fc1", "fc2", "classifier"),
        penultimate="act2",
        reduce=None,
        linears={"fc1": ("fc1",), "fc2": ("fc2",), "classifier": ("classifier",)},
        activations={"fc1": "act1", "fc2": "act2"},
        adaptive=("fc1", "fc2", "classifier"),
        input_layer="fc1",
    )


@register_model(
    "tiny_mlp", options=TinyMLPOptions, adapter=tiny_adapter, presets={"smoke": {"width": 32}}
)
def build_tiny_mlp(opts: TinyMLPOptions, ctx: BuildContext) -> TinyMLP:
    """Two hidden layers of `width` units."""
    return TinyMLP(ctx.in_features, opts.width, ctx.num_classes)
