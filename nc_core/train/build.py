"""Everything a run is built from its `RunConfig`: device, data, model, adapter, policy,
optimizer, the learning-rate schedule, and the one action that fixes a layer."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from nc_core.data import load_dataset
from nc_core.data.split import Split
from nc_core.fixing.etf import freeze_to_etf, layer_seed
from nc_core.fixing.policy import AdaptiveETF, NoFreeze, StaticETF
from nc_core.models import get_model
from nc_core.models.adapter import ModelAdapter
from nc_core.train.config import RunConfig


def resolve_device(name: str) -> torch.device:
    """The torch device `name` (RunConfig.device) names: "auto" is CUDA when available, else
    the CPU; ValueError for a CUDA device or MPS this machine lacks."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"RunConfig.device={name!r}: CUDA is not available on this machine")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"RunConfig.device={name!r}: this machine has {torch.cuda.device_count()} CUDA "
            "device(s), numbered from 0"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"RunConfig.device={name!r}: this machine (or this torch build) has no MPS device; "
            "use cpu, cuda or auto"
        )
    return device


def load_data(cfg: RunConfig) -> tuple[Split, Split]:
    """(train, test) of `cfg.dataset`, before any subset is taken."""
    return load_dataset(cfg.dataset, seed=cfg.seed, num_classes=cfg.K)


def build_model(cfg: RunConfig, input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """The network of `cfg`, built by its registered builder for the dataset's sample shape
    (or `input_shape`, the shape of one sample of data handed to `train` directly).

    Seeds torch's RNG with `cfg.seed` before building, so arms of one seed share every initial
    weight they have in common (matched arms), and re-seeds after, so what draws from it later
    (dropout) does not depend on which arm was built."""
    torch.manual_seed(cfg.seed)
    ctx = cfg.build_context()
    if input_shape is not None:
        ctx = dataclasses.replace(ctx, input_shape=tuple(input_shape))
    model = get_model(cfg.model).build(cfg.arch, ctx)
    torch.manual_seed(cfg.seed + 1)
    return model


def build_adapter(cfg: RunConfig, model: nn.Module) -> ModelAdapter:
    """What is measured and fixed in `model` (its registered adapter)."""
    return get_model(cfg.model).adapter(model, cfg.arch)


def build_policy(cfg: RunConfig, adapter: ModelAdapter) -> AdaptiveETF | StaticETF | NoFreeze:
    """The freeze policy `cfg.policy` names, with its settings from `cfg`; an adaptive one may
    fix only the layers `adapter` marks fixable."""
    if cfg.policy == "adaptive":
        return AdaptiveETF(
            cfg.eps,
            patience=cfg.patience,
            mode=cfg.mode,
            kind=cfg.kind,
            layers=adapter.fixable(fix_input=cfg.fix_input),
            min_epoch=cfg.min_epoch,
            max_fixed=cfg.max_fixed,
        )
    if cfg.policy == "static":
        return StaticETF(cfg.fix_from, kind=cfg.kind)
    return NoFreeze(kind=cfg.kind)


def build_optimizer(cfg: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    """`cfg.optimizer` (AdamW or SGD with momentum) over the trainable parameters of `model`."""
    params = [p for p in model.parameters() if p.requires_grad]
    # foreach: one multi-tensor update instead of a loop over parameters (the CUDA default; on
    # the CPU it cuts about a tenth off a step of the paper's MLP).
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=True
    )


def rebuild_optimizer(
    cfg: RunConfig, model: nn.Module, old: torch.optim.Optimizer
) -> torch.optim.Optimizer:
    """A new optimizer over the still-trainable parameters of `model`, their state (momentum)
    and the learning rate carried over from `old`."""
    new = build_optimizer(cfg, model)
    for group in new.param_groups:
        group["lr"] = old.param_groups[0]["lr"]
        for p in group["params"]:
            if p in old.state:
                new.state[p] = old.state[p]
    return new


def lr_at(cfg: RunConfig, epoch: int) -> float:
    """Learning rate for 0-based `epoch`: linear warm-up, then constant / multistep / cosine."""
    if epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1) / (cfg.warmup_epochs + 1)
    t = (epoch - cfg.warmup_epochs) / max(cfg.epochs - cfg.warmup_epochs, 1)
    if cfg.schedule == "multistep":  # x0.1 at 1/2 and 3/4 of training
        return cfg.lr * 0.1 ** ((t >= 0.5) + (t >= 0.75))
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * t))
    return cfg.lr


def fix_layer(
    model: nn.Module, adapter: ModelAdapter, layer: str, kind: str, seed: int
) -> dict[str, str]:
    """Fix measured layer `layer` (each of its linears) as `kind`; {linear name: kind}."""
    fixed = {}
    for name in adapter.linears_of(layer):
        freeze_to_etf(model, name, kind=kind, seed=layer_seed(name, seed))
        fixed[name] = kind
    return fixed
