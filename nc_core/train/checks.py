"""Every check of a `RunConfig`, run before any data is loaded (`RunConfig.validate`).

Field types, choices and bounds come from the fields' declarations (`nc_core.fields`); the rest
are rules between fields, the dataset's registered facts (classes, samples per class), and the
model's own `check` (`nc_core.models.registry`), and last the dataset's files
(`nc_core.data.registry.check_dataset`). Each failure names the field or the file at fault.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import torch

from nc_core.data import check_dataset, get_dataset
from nc_core.fields import check_fields
from nc_core.models import BuildContext, get_model

DEVICE_FORM = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
MAX_SEED = 2**32 - 2  # seed + 1 seeds torch too; numpy-style seeds stay below 2**32


def check_run(cfg: Any) -> None:
    """Raise ValueError naming the first invalid field of `cfg`, a RunConfig (this module reads
    its fields only, so that RunConfig can call it without an import circle)."""
    check_fields(cfg, label="RunConfig.")
    check_fields(cfg.arch, label=f"RunConfig.{cfg.model}_")
    for name in ("epochs", "batch_size", "patience", "eval_every"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"RunConfig.{name}={getattr(cfg, name)}: must be >= 1")
    for name in ("subset", "nc_samples", "max_fixed", "fix_from"):
        value = getattr(cfg, name)
        if value is not None and value < (1 if name in ("subset", "nc_samples") else 0):
            raise ValueError(f"RunConfig.{name}={value}: must be positive (or None)")
    if not 0 <= cfg.seed <= MAX_SEED:
        raise ValueError(f"RunConfig.seed={cfg.seed}: must lie in 0..{MAX_SEED}")
    if not DEVICE_FORM.fullmatch(cfg.device):
        raise ValueError(
            f"RunConfig.device={cfg.device!r}: expected auto, cpu, mps, cuda or cuda:N"
        )
    if not 0.0 <= cfg.eps <= 1.0:
        raise ValueError(f"RunConfig.eps={cfg.eps}: an NCC error threshold must lie in [0, 1]")
    if cfg.lr <= 0:
        raise ValueError(f"RunConfig.lr={cfg.lr}: must be > 0")
    if not 0.0 <= cfg.momentum < 1.0:
        raise ValueError(f"RunConfig.momentum={cfg.momentum}: must lie in [0, 1)")
    for name in ("weight_decay", "min_epoch", "warmup_epochs"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"RunConfig.{name}={getattr(cfg, name)}: must be >= 0")
    if cfg.policy == "static" and cfg.fix_from is None:
        raise ValueError(
            "RunConfig.fix_from=None: policy='static' needs the first fixed layer index"
        )
    data = get_dataset(cfg.dataset)
    if cfg.num_classes is not None:
        if cfg.num_classes < 2:
            raise ValueError(f"RunConfig.num_classes={cfg.num_classes}: a classifier needs >= 2")
        if data.num_classes is not None and cfg.num_classes != data.num_classes:
            raise ValueError(
                f"RunConfig.num_classes={cfg.num_classes}: {cfg.dataset} has "
                f"{data.num_classes} classes (leave num_classes unset)"
            )
    if cfg.subset is not None and cfg.subset > data.train_per_class:
        raise ValueError(
            f"RunConfig.subset={cfg.subset}: {cfg.dataset} has {data.train_per_class} "
            f"train samples per class; pass at most {data.train_per_class} (or none for all)"
        )
    ctx = cfg.build_context()
    get_model(cfg.model).check(cfg.arch, ctx)
    if cfg.fix_from is not None:
        n_layers = len(measured_layers(cfg.model, cfg.arch, ctx))
        if cfg.fix_from >= n_layers:
            raise ValueError(
                f"RunConfig.fix_from={cfg.fix_from}: the {cfg.model} has {n_layers} "
                f"measured layers; expected 0..{n_layers - 1}"
            )
    # Last: the dataset's files where its loader reads them (a DataError, a ValueError, for a
    # missing, truncated or corrupt one; each file set is read once per process).
    check_dataset(cfg.dataset, seed=cfg.seed, num_classes=cfg.K)


@functools.lru_cache(maxsize=64)
def measured_layers(model: str, arch: Any, ctx: BuildContext) -> tuple[str, ...]:
    """The measured layers of model `model` with options `arch` built for `ctx`, input to
    output (the model is built once on the CPU, torch's RNG left as it was)."""
    entry = get_model(model)
    with torch.random.fork_rng(devices=[]):
        net = entry.build(arch, ctx)
    return tuple(entry.adapter(net, arch).layers)
