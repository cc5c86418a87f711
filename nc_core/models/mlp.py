"""The paper's MLP: `depth` linear layers, BatchNorm and ReLU between them.

As in the paper author's code: fc1 (in_dim -> width), fc2 ... fc{depth-1} (width -> width), each
followed by BatchNorm1d (optional) and ReLU, then `classifier` (width -> K). Measured: each
linear's output, before BatchNorm, and the logits (`mlp_adapter`); the model itself knows
nothing of measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from nc_core.models.adapter import ModelAdapter
from nc_core.models.registry import BuildContext, register_model


@dataclass(frozen=True)
class MLPOptions:
    """The MLP's part of a run's configuration (columns mlp_width, mlp_depth, mlp_batch_norm)."""

    width: int = field(default=400, metadata={"help": "MLP hidden width", "min": 1})
    depth: int = field(default=8, metadata={"help": "MLP linear layers in all", "min": 2})
    batch_norm: bool = field(
        default=True, metadata={"help": "MLP BatchNorm1d after each hidden linear"}
    )

    def check(self, ctx: BuildContext) -> None:
        """A canonical ETF classifier needs width >= K (K unit vectors of a simplex need K-1
        dimensions, and the canonical frame takes the leading block)."""
        if ctx.kind == "canonical" and self.width < ctx.num_classes:
            raise ValueError(
                f"RunConfig.mlp_width={self.width}: a canonical ETF classifier needs width >= "
                f"num_classes={ctx.num_classes} (K unit vectors of a simplex need K-1 dimensions)"
            )


class MLP(nn.Module):
    def __init__(
        self,
        *,
        in_dim: int = 784,
        width: int,
        depth: int,
        num_classes: int = 10,
        batch_norm: bool = True,
    ):
        super().__init__()
        if depth < 2:
            raise ValueError(
                f"MLP depth={depth}: needs >= 2 linear layers (fc1 and the classifier)"
            )
        if width < 1 or in_dim < 1 or num_classes < 2:
            raise ValueError(
                f"MLP width={width}, in_dim={in_dim}, num_classes={num_classes}: invalid"
            )
        self.depth = depth
        self.hidden = [f"fc{i}" for i in range(1, depth)]
        for i, name in enumerate(self.hidden, start=1):
            setattr(self, name, nn.Linear(in_dim if i == 1 else width, width))
            setattr(self, f"bn{i}", nn.BatchNorm1d(width) if batch_norm else nn.Identity())
            setattr(self, f"act{i}", nn.ReLU())
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs x (B, ...), flattened to (B, in_dim) -> logits (B, K)."""
        h = x.flatten(1)  # (B, in_dim)
        for i in range(1, self.depth):
            h = getattr(self, f"act{i}")(getattr(self, f"bn{i}")(getattr(self, f"fc{i}")(h)))
        return self.classifier(h)  # (B, K)


def mlp_adapter(model: MLP, opts: MLPOptions | None = None) -> ModelAdapter:
    """MLP: each hidden linear's output (before BatchNorm) and the logits; fc1 reads pixels."""
    hidden = [f"fc{i}" for i in range(1, model.depth)]
    layers = (*hidden, "classifier")
    return ModelAdapter(
        layers=layers,
        penultimate=f"act{model.depth - 1}",
        reduce=None,
        linears={n: (n,) for n in layers},
        activations={n: f"act{i}" for i, n in enumerate(hidden, start=1)},
        adaptive=layers,
        input_layer="fc1",
    )


@register_model(
    "mlp",
    options=MLPOptions,
    adapter=mlp_adapter,
    presets={"smoke": {"width": 64, "depth": 4}, "quick": {}, "paper": {}},
)
def build_mlp(opts: MLPOptions, ctx: BuildContext) -> MLP:
    """The paper's MLP (Liu, arXiv 2412.00884): depth 8, width 400, BatchNorm by default."""
    return MLP(
        in_dim=ctx.in_features,
        width=opts.width,
        depth=opts.depth,
        num_classes=ctx.num_classes,
        batch_norm=opts.batch_norm,
    )
