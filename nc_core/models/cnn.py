"""A small CNN whose linear head can be fixed: the README's worked example of adding a model.

conv1 (1 -> 8, 3x3) ReLU, 2x2 max-pool, conv2 (8 -> 8) ReLU, 2x2 max-pool, then the head:
fc1 (8*7*7 -> width) ReLU, fc2 (width -> width) ReLU, classifier (width -> K). The model knows
nothing of measurement; `nc_core.models.adapter.cnn_adapter` says what is measured and fixed.
"""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    def __init__(self, *, channels: int = 1, width: int = 64, num_classes: int = 10):
        super().__init__()
        if width < 1 or num_classes < 2:
            raise ValueError(f"SmallCNN width={width}, num_classes={num_classes}: invalid")
        self.conv1, self.act_c1 = nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU()
        self.conv2, self.act_c2 = nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc1, self.act1 = nn.Linear(8 * 7 * 7, width), nn.ReLU()
        self.fc2, self.act2 = nn.Linear(width, width), nn.ReLU()
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.act_c1(self.conv1(x)))  # (B, 8, 14, 14)
        h = self.pool(self.act_c2(self.conv2(h))).flatten(1)  # (B, 8*7*7)
        h = self.act2(self.fc2(self.act1(self.fc1(h))))  # (B, width)
        return self.classifier(h)  # (B, K)
