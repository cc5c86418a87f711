"""Presets: the paper's setting and smaller versions of it, each a partial `RunConfig`.

`preset(name, **overrides)` is the one way to turn a name into a validated config; the command
line's `--preset` and every study start from one. A preset's values are run fields and the
options of its model; a model may add its own size for a preset name (`smoke` for the ViT is
dim 32, depth 2: `nc_core.models.registry.ModelEntry.presets`), used when the preset runs with
that model (`preset("smoke", model="vit")`). The GPU-scale presets of the CIFAR networks
(`cifar10-resnet18`, `cifar100-resnet18`, `cifar10-resnet-mlp`) name their dataset too; each
says beside it where its setting comes from.
"""

from __future__ import annotations

from typing import Any

from nc_core.models import get_model
from nc_core.train.config import RunConfig
from nc_core.train.keys import canonical_keys

# `paper` is the author's MLP recipe (depth 8, width 400, BN, 300 epochs, SGD 0.01 / 0.9 / 5e-4,
# batch 128).
PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(model="mlp", width=400, depth=8, batch_norm=True, epochs=300, nc_samples=1000),
    "quick": dict(model="mlp", width=400, depth=8, batch_norm=True, epochs=30),
    "smoke": dict(
        model="mlp",
        width=64,
        depth=4,
        epochs=3,
        subset=100,
        nc_samples=50,
        batch_size=64,
        patience=1,
    ),
    "vit-paper": dict(
        model="vit",
        epochs=200,
        optimizer="adamw",
        lr=1e-3,
        weight_decay=0.05,
        schedule="cosine",
        warmup_epochs=5,
        nc_samples=1000,
    ),
    "vit-quick": dict(
        model="vit",
        epochs=15,
        subset=1000,
        optimizer="adamw",
        lr=2e-3,
        weight_decay=0.05,
        schedule="cosine",
        warmup_epochs=2,
        nc_samples=300,
        batch_size=128,
    ),
    "vit-smoke": dict(
        model="vit",
        epochs=2,
        subset=30,
        dim=32,
        depth=2,
        heads=2,
        optimizer="adamw",
        lr=1e-3,
        weight_decay=0.05,
        nc_samples=20,
        batch_size=50,
    ),
    # GPU scale. ResNet-18 on CIFAR: the common CIFAR recipe (as in kuangliu/pytorch-cifar: SGD
    # lr 0.1, momentum 0.9, weight decay 5e-4, cosine over 200 epochs, batch 128, a 4-pixel pad,
    # random 32 x 32 crop and left-right flip of each train image: `nc_core.data.augment`).
    "cifar10-resnet18": dict(
        model="resnet18",
        dataset="cifar10",
        epochs=200,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="cosine",
        batch_size=128,
        augment="crop_flip",
        nc_samples=500,
    ),
    "cifar100-resnet18": dict(
        model="resnet18",
        dataset="cifar100",
        epochs=200,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="cosine",
        batch_size=128,
        augment="crop_flip",
        nc_samples=100,  # of CIFAR-100's 500 train images per class
    ),
    # The neural-collapse setting of Papyan, Han & Donoho 2020 (PNAS): trained far past zero
    # train error (350 epochs) by SGD with momentum 0.9 and weight decay 5e-4, the learning rate
    # cut by 10 twice, no augmentation. lr 0.1 and the cuts at 1/2 and 3/4 of training (the
    # `multistep` schedule, not their 1/3 and 2/3) are this project's.
    "cifar10-resnet-mlp": dict(
        model="resnet_mlp",
        dataset="cifar10",
        epochs=350,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="multistep",
        batch_size=128,
        nc_samples=500,
    ),
}


def preset_values(name: str, model: str | None = None) -> dict[str, Any]:
    """The flat values preset `name` sets, for `model` (default: the preset's own). With another
    model, the preset's run fields apply and the model's own options for `name`, if any."""
    if name not in PRESETS:
        raise ValueError(f"preset {name!r}: expected one of {tuple(PRESETS)}")
    values = dict(PRESETS[name])
    own = values.get("model", "mlp")
    model = model or own
    entry = get_model(model)
    if model != own:
        options = set(get_model(own).option_names())
        values = {k: v for k, v in values.items() if k not in options}
    values["model"] = model
    return {**canonical_keys(model, entry.presets.get(name, {})), **canonical_keys(model, values)}


def preset(name: str, **overrides: Any) -> RunConfig:
    """The named preset with `overrides` (run fields, flat keys or option short names) applied,
    validated."""
    values = preset_values(name, overrides.get("model"))
    model = values["model"]
    flat = {**values, **canonical_keys(model, overrides)}
    return RunConfig.from_dict(flat, strict=True).validate()
