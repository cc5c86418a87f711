"""What measurement and fixing need to know about a model, kept beside it, not in it.

A model is just a model (the nanoGPT rule). A `ModelAdapter` says which of its modules are the
measured layers, how a tapped output becomes (B, D) features, which nn.Linear modules fixing a
layer replaces, which layer reads the raw input and which is the classifier: the idea of
torchvision's `create_feature_extractor` return nodes and timm's `feature_info`. Evaluation,
taps and policies use only the adapter. Each model's file builds its own adapter and registers
it with the model (`nc_core.models.registry.register_model`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

Reduce = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ModelAdapter:
    """The measurement view of one model instance.

    layers: measured layers, input to output; the last is the classifier.
    penultimate: the module whose output is the classifier's input (NC3, NC4).
    reduce: a tapped output -> (B, D) features (a ViT's CLS token); None flattens.
    linears: measured layer -> the nn.Linear (or nn.Conv2d) names that fixing it replaces.
    activations: measured layer -> the module right after its nonlinearity (dead units).
    adaptive: the layers an adaptive policy may fix (all of them, or a ViT's blocks).
    input_layer: the measured layer fed by the raw input (never fixed unless `fix_input`).
    """

    layers: tuple[str, ...]
    penultimate: str
    reduce: Reduce | None
    linears: Mapping[str, tuple[str, ...]]
    activations: Mapping[str, str]
    adaptive: tuple[str, ...]
    input_layer: str | None = None

    def __post_init__(self) -> None:
        missing = set(self.layers) - set(self.linears)
        if missing:
            raise ValueError(f"ModelAdapter: layers {sorted(missing)} have no linears")
        outside = set(self.adaptive) - set(self.layers)
        if outside:
            raise ValueError(f"ModelAdapter: adaptive layers {sorted(outside)} are not measured")

    @property
    def classifier(self) -> str:
        """The last measured layer: the one that gives the logits."""
        return self.layers[-1]

    def linears_of(self, layer: str) -> tuple[str, ...]:
        """The nn.Linear names fixed when measured layer `layer` is fixed."""
        if layer not in self.linears:
            raise ValueError(f"layer {layer!r}: expected one of {self.layers}")
        return self.linears[layer]

    def fixable(self, *, fix_input: bool) -> list[str]:
        """Layers an adaptive policy may fix; the input layer only with `fix_input`."""
        return [n for n in self.adaptive if fix_input or n != self.input_layer]
