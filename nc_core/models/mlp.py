"""The paper's MLP: `depth` linear layers, BatchNorm and ReLU between them.

As in the paper author's code: fc1 (in_dim -> width), fc2 ... fc{depth-1} (width -> width), each
followed by BatchNorm1d (optional) and ReLU, then `classifier` (width -> K). What is measured
(each linear's output, before BatchNorm, and the logits) is `nc_core.models.adapter.mlp_adapter`.
"""

from __future__ import annotations

import torch
from torch import nn


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
        h = x.flatten(1)  # (B, in_dim)
        for i in range(1, self.depth):
            h = getattr(self, f"act{i}")(getattr(self, f"bn{i}")(getattr(self, f"fc{i}")(h)))
        return self.classifier(h)  # (B, K)
