"""What measurement and fixing need to know about a model, kept beside it, not in it.

A model is just a model (the nanoGPT rule). A `ModelAdapter` says which of its modules are the
measured layers, how a tapped output becomes (B, D) features, which nn.Linear modules fixing a
layer replaces, which layer reads the raw input and which is the classifier: the idea of
torchvision's `create_feature_extractor` return nodes and timm's `feature_info`. Evaluation,
taps and policies use only the adapter. Adding a model means adding its file and one adapter
function registered in `ADAPTERS` (README: "Adding a model").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from nc_core.models.cnn import SmallCNN
from nc_core.models.mlp import MLP
from nc_core.models.vit import ViT, cls_features
from nc_core.models.vit_fixing import ffn_linear_names

Reduce = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ModelAdapter:
    """The measurement view of one model instance.

    layers: measured layers, input to output; the last is the classifier.
    penultimate: the module whose output is the classifier's input (NC3, NC4).
    reduce: a tapped output -> (B, D) features (a ViT's CLS token); None flattens.
    linears: measured layer -> the nn.Linear names that fixing it replaces.
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

    @property
    def classifier(self) -> str:
        return self.layers[-1]

    def linears_of(self, layer: str) -> tuple[str, ...]:
        """The nn.Linear names fixed when measured layer `layer` is fixed."""
        if layer not in self.linears:
            raise ValueError(f"layer {layer!r}: expected one of {self.layers}")
        return self.linears[layer]

    def fixable(self, *, fix_input: bool) -> list[str]:
        """Layers an adaptive policy may fix; the input layer only with `fix_input`."""
        return [n for n in self.adaptive if fix_input or n != self.input_layer]


def mlp_adapter(model: MLP, **_) -> ModelAdapter:
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


def vit_adapter(model: ViT, *, etf_linears: str = "both", **_) -> ModelAdapter:
    """ViT: each block's CLS token and the logits; fixing a block replaces its feedforward
    linears `etf_linears` (fc1, fc2 or both). Adaptive-ETF fixes blocks only (the ETF-Transformer
    fixes feedforward layers); no measured layer reads pixels (the patch embedding is never
    fixed)."""
    blocks = [f"blocks.{i}" for i in range(len(model.blocks))]
    linears = {b: tuple(ffn_linear_names([i], etf_linears)) for i, b in enumerate(blocks)}
    return ModelAdapter(
        layers=(*blocks, "head"),
        penultimate="norm",
        reduce=cls_features,
        linears={**linears, "head": ("head",)},
        activations={b: f"{b}.ffn.act" for b in blocks},
        adaptive=tuple(blocks),
        input_layer=None,
    )


def cnn_adapter(model: SmallCNN, **_) -> ModelAdapter:
    """SmallCNN (the README's worked example): the second conv block (flattened) and the head's
    linears are measured; the head's linears can be fixed, the convolutions cannot."""
    return ModelAdapter(
        layers=("conv2", "fc1", "fc2", "classifier"),
        penultimate="act2",
        reduce=None,
        linears={"conv2": (), "fc1": ("fc1",), "fc2": ("fc2",), "classifier": ("classifier",)},
        activations={"conv2": "act_c2", "fc1": "act1", "fc2": "act2"},
        adaptive=("fc1", "fc2", "classifier"),
        input_layer=None,
    )


ADAPTERS: dict[type[nn.Module], Callable[..., ModelAdapter]] = {
    MLP: mlp_adapter,
    ViT: vit_adapter,
    SmallCNN: cnn_adapter,
}


def adapter_for(model: nn.Module, **options) -> ModelAdapter:
    """The registered adapter of `model`'s class, built for this instance."""
    for cls, make in ADAPTERS.items():
        if isinstance(model, cls):
            return make(model, **options)
    known = ", ".join(c.__name__ for c in ADAPTERS)
    raise TypeError(f"no ModelAdapter for {type(model).__name__}: register one ({known})")
