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
from nc_core.data.registry import data_root
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
    if cfg.augment != "none" and len(data.input_shape) != 3:
        raise ValueError(
            f"RunConfig.augment={cfg.augment!r}: crops and flips images (C, H, W); "
            f"{cfg.dataset} gives samples of shape {data.input_shape}"
        )
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
    check_fixable(cfg, ctx)
    if cfg.subset is not None:  # then the number of train samples is known before loading
        check_last_batch(
            cfg.batch_size, cfg.subset * ctx.num_classes, _built(cfg.model, cfg.arch, ctx)[0]
        )
    root = data_root()
    if root is not None and root.exists() and not root.is_dir():
        raise ValueError(
            f"NC_DATA_DIR={root}: a file, not a folder; point it at the folder holding the "
            "dataset's files, or unset it"
        )
    # Last: the dataset's files where its loader reads them (a DataError, a ValueError, for a
    # missing, truncated or corrupt one; each file set is read once per process).
    check_dataset(cfg.dataset, seed=cfg.seed, num_classes=cfg.K)


def check_fixable(cfg: Any, ctx: BuildContext) -> None:
    """ValueError naming `kind` when a layer the policy may fix cannot become that kind: an
    ETF or an isometry needs at least 2 rows and 2 columns (`nc_core.fixing.etf`), which
    found out only at the epoch it is fixed would end the run there."""
    if cfg.policy == "none" or cfg.kind == "freeze":
        return
    net, adapter = _built(cfg.model, cfg.arch, ctx)
    if cfg.policy == "static":
        layers = adapter.layers[cfg.fix_from :]
    else:
        layers = adapter.fixable(fix_input=cfg.fix_input)
    for layer in layers:
        for name in adapter.linears_of(layer):
            weight = net.get_submodule(name).weight  # (out, in, ...)
            rows, cols = weight.shape[0], weight[0].numel()
            if min(rows, cols) < 2:
                raise ValueError(
                    f"RunConfig.kind={cfg.kind!r}: policy={cfg.policy!r} may fix layer {layer} "
                    f"({name}, {rows}x{cols}), and a {cfg.kind} frame needs at least 2 rows and "
                    "2 columns; give the model more width there, fix from a later layer, or use "
                    "kind='freeze'"
                )


def check_last_batch(batch_size: int, n_train: int, net: torch.nn.Module) -> None:
    """ValueError naming `batch_size` when `n_train` samples leave a last batch of one sample
    and `net` has BatchNorm over features, which cannot train on one sample."""
    if batch_size == 1 or n_train % batch_size != 1:
        return
    if any(isinstance(m, torch.nn.BatchNorm1d) for m in net.modules()):
        raise ValueError(
            f"RunConfig.batch_size={batch_size}: the {n_train} train samples leave a last "
            "batch of one sample, on which BatchNorm cannot train; pick a batch size that "
            f"does not divide {n_train - 1}"
        )


@functools.lru_cache(maxsize=4)
def _built(model: str, arch: Any, ctx: BuildContext) -> tuple[torch.nn.Module, Any]:
    """(network, adapter) of model `model` with options `arch` built for `ctx` on the CPU,
    torch's RNG left as it was; built once for all the checks of one config."""
    entry = get_model(model)
    with torch.random.fork_rng(devices=[]):
        net = entry.build(arch, ctx)
    return net, entry.adapter(net, arch)


def measured_layers(model: str, arch: Any, ctx: BuildContext) -> tuple[str, ...]:
    """The measured layers of model `model` with options `arch` built for `ctx`, input to
    output."""
    return tuple(_built(model, arch, ctx)[1].layers)
