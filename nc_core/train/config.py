"""`RunConfig`: everything one training run needs, as one frozen, flat dataclass (presets:
`nc_core.train.presets`).

Flat on purpose: `dataclasses.asdict(cfg)` is at once the command line (one flag per field), a
Ray Tune `param_space`, and the config columns of every Parquet row, so any result traces back to
its exact configuration. `validate()` runs before any work starts and names the field at fault.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Literal

from nc_core.cli.args import check_choices
from nc_core.fixing.etf import FIXED_KINDS
from nc_core.models.vit_fixing import FFN_LINEARS, parse_blocks

# Each choice is declared once, as a Literal type; validation and every command line's choices
# and --help derive from it (nc_core.cli.args). Kinds and ViT linears are declared where they are
# built (nc_core.fixing.etf, nc_core.models.vit_fixing).
Model = Literal["mlp", "vit"]
Dataset = Literal["fashion_mnist", "synthetic"]
Optimizer = Literal["sgd", "adamw"]
Schedule = Literal["constant", "multistep", "cosine"]
Policy = Literal["none", "adaptive", "static"]
Kind = Literal[FIXED_KINDS]
Mode = Literal["layer", "beyond"]
Precision = Literal["fp32", "bf16"]
VitLinears = Literal[FFN_LINEARS]
KINDS = typing.get_args(Kind)
# Train images per class of each dataset (the smallest class): `subset` is checked against it
# before any data is loaded. Synthetic data draws this many per class (nc_core.train.build.load_data).
TRAIN_PER_CLASS = {"fashion_mnist": 6000, "synthetic": 300}
DEVICE_FORM = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
MAX_SEED = 2**32 - 2  # seed + 1 seeds torch too; numpy-style seeds stay below 2**32


@dataclass(frozen=True)
class RunConfig:
    """One training run. Field docs double as the command line's `--help`."""

    # model
    model: Model = field(default="mlp", metadata={"help": "network"})
    width: int = field(default=400, metadata={"help": "MLP hidden width"})
    depth: int = field(default=8, metadata={"help": "MLP linear layers in all (>= 2)"})
    batch_norm: bool = field(
        default=True, metadata={"help": "MLP BatchNorm1d after each hidden linear"}
    )
    vit_dim: int = field(default=64, metadata={"help": "ViT token width"})
    vit_depth: int = field(default=6, metadata={"help": "ViT transformer blocks"})
    vit_heads: int = field(
        default=4, metadata={"help": "ViT attention heads (must divide vit_dim)"}
    )
    vit_patch: int = field(default=7, metadata={"help": "ViT patch size (must divide 28)"})
    vit_mlp_ratio: int = field(default=2, metadata={"help": "ViT feedforward hidden = ratio * dim"})
    vit_dropout: float = field(default=0.0, metadata={"help": "ViT dropout probability"})
    etf_blocks: str = field(
        default="none",
        metadata={
            "help": "ViT blocks whose feedforward is fixed from the start: none, all, "
            "last:N, first:N or a comma list of indices"
        },
    )
    etf_linears: VitLinears = field(
        default="both", metadata={"help": "ViT feedforward linears to fix"}
    )
    # data
    dataset: Dataset = field(default="fashion_mnist", metadata={"help": "training data"})
    subset: int | None = field(
        default=None, metadata={"help": "first N train images per class (None: all)"}
    )
    nc_samples: int | None = field(
        default=500,
        metadata={
            "help": "train images per class used for the NC statistics (None: all); "
            "a fixed stratified sample keeps an NC evaluation cheap"
        },
    )
    # optimization
    epochs: int = field(default=30, metadata={"help": "training epochs"})
    batch_size: int = field(default=128, metadata={"help": "mini-batch size"})
    optimizer: Optimizer = field(default="sgd", metadata={"help": "optimizer"})
    lr: float = field(default=0.01, metadata={"help": "peak learning rate"})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum"})
    weight_decay: float = field(default=5e-4, metadata={"help": "weight decay"})
    schedule: Schedule = field(default="constant", metadata={"help": "learning-rate schedule"})
    warmup_epochs: int = field(
        default=0, metadata={"help": "linear warm-up epochs before the schedule"}
    )
    # policy
    policy: Policy = field(default="none", metadata={"help": "ETF policy"})
    eps: float = field(
        default=0.1, metadata={"help": "Adaptive-ETF: NCC error threshold in [0, 1]"}
    )
    patience: int = field(
        default=5, metadata={"help": "Adaptive-ETF: consecutive evaluations <= eps"}
    )
    mode: Mode = field(
        default="layer", metadata={"help": "Adaptive-ETF: what a qualifying layer fixes"}
    )
    kind: Kind = field(default="canonical", metadata={"help": "what a fixed layer becomes"})
    fix_input: bool = field(
        default=False,
        metadata={
            "help": "Adaptive-ETF: may fix the input layer (MLP fc1). Off by default: a fixed "
            "wide layer reads the pixels through a k-dim map (canonical keeps only the first k "
            "of 784 pixels), which is input truncation, not collapse geometry"
        },
    )
    min_epoch: int = field(
        default=0, metadata={"help": "Adaptive-ETF: fix nothing before this epoch"}
    )
    max_fixed: int | None = field(
        default=None, metadata={"help": "Adaptive-ETF: fix at most this many layers"}
    )
    fix_from: int | None = field(
        default=None, metadata={"help": "StaticETF: fix layers with index >= this"}
    )
    # run
    seed: int = field(default=0, metadata={"help": "seed for weights, ETFs and batch order"})
    device: str = field(
        default="auto", metadata={"help": "auto (CUDA when present), cpu, cuda, cuda:N"}
    )
    precision: Precision = field(default="fp32", metadata={"help": "bf16: autocast on CUDA only"})
    compile: bool = field(
        default=False,
        metadata={
            "help": "compile the training step's forward and loss with torch.compile (CUDA: "
            "mode reduce-overhead, CUDA graphs); re-captured after layers are fixed; records "
            "match eager within rounding (README: On a GPU)"
        },
    )
    eval_every: int = field(
        default=1, metadata={"help": "measure NC every N epochs (and at the last)"}
    )
    num_classes: int = field(
        default=10, metadata={"help": "classes (synthetic data only; 10 otherwise)"}
    )

    def replace(self, **changes) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> RunConfig:
        """Raise ValueError naming the first invalid field; return self when all are valid."""
        for name, hint in typing.get_type_hints(RunConfig).items():
            value = getattr(self, name)
            if float in (hint, *typing.get_args(hint)) and isinstance(value, float):
                if not math.isfinite(value):
                    raise ValueError(f"RunConfig.{name}={value}: must be a finite number")
        check_choices(self)
        positive = (
            "width",
            "epochs",
            "batch_size",
            "patience",
            "eval_every",
            "vit_dim",
            "vit_depth",
            "vit_heads",
            "vit_patch",
            "vit_mlp_ratio",
            "num_classes",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"RunConfig.{name}={getattr(self, name)}: must be >= 1")
        for name in ("subset", "nc_samples", "max_fixed", "fix_from"):
            value = getattr(self, name)
            if value is not None and value < (1 if name in ("subset", "nc_samples") else 0):
                raise ValueError(f"RunConfig.{name}={value}: must be positive (or None)")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"RunConfig.seed={self.seed}: must lie in 0..{MAX_SEED}")
        if self.num_classes < 2:
            raise ValueError(f"RunConfig.num_classes={self.num_classes}: a classifier needs >= 2")
        if not DEVICE_FORM.fullmatch(self.device):
            raise ValueError(
                f"RunConfig.device={self.device!r}: expected auto, cpu, mps, cuda or cuda:N"
            )
        per_class = TRAIN_PER_CLASS[self.dataset]
        if self.subset is not None and self.subset > per_class:
            raise ValueError(
                f"RunConfig.subset={self.subset}: {self.dataset} has {per_class} train images "
                f"per class; pass at most {per_class} (or none for all)"
            )
        if self.model == "vit":
            try:
                parse_blocks(self.etf_blocks, self.vit_depth)
            except ValueError as err:
                raise ValueError(f"RunConfig.{err}") from None
        elif self.etf_blocks.strip().lower() != "none":
            raise ValueError(
                f"RunConfig.etf_blocks={self.etf_blocks!r}: only the ViT has blocks "
                "(model='vit'); the MLP takes none"
            )
        n_layers = self.vit_depth + 1 if self.model == "vit" else self.depth
        if self.fix_from is not None and self.fix_from >= n_layers:
            raise ValueError(
                f"RunConfig.fix_from={self.fix_from}: the {self.model} has {n_layers} measured "
                f"layers; expected 0..{n_layers - 1}"
            )
        if not 0.0 <= self.eps <= 1.0:
            raise ValueError(f"RunConfig.eps={self.eps}: an NCC error threshold must lie in [0, 1]")
        if self.depth < 2:
            raise ValueError(f"RunConfig.depth={self.depth}: the MLP needs >= 2 linear layers")
        if self.lr <= 0:
            raise ValueError(f"RunConfig.lr={self.lr}: must be > 0")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"RunConfig.momentum={self.momentum}: must lie in [0, 1)")
        if not 0.0 <= self.vit_dropout < 1.0:
            raise ValueError(f"RunConfig.vit_dropout={self.vit_dropout}: must lie in [0, 1)")
        for name in ("momentum", "weight_decay", "min_epoch", "warmup_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"RunConfig.{name}={getattr(self, name)}: must be >= 0")
        if self.dataset == "fashion_mnist" and self.num_classes != 10:
            raise ValueError(
                f"RunConfig.num_classes={self.num_classes}: Fashion-MNIST has 10 classes"
            )
        if self.model == "mlp" and self.width < self.num_classes and self.kind == "canonical":
            raise ValueError(
                f"RunConfig.width={self.width}: a canonical ETF classifier needs width >= "
                f"num_classes={self.num_classes} (K unit vectors of a simplex need K-1 dimensions)"
            )
        if self.policy == "static":
            if self.fix_from is None:
                raise ValueError(
                    "RunConfig.fix_from=None: policy='static' needs the first fixed layer index"
                )
        if self.model == "vit":
            if 28 % self.vit_patch:
                raise ValueError(
                    f"RunConfig.vit_patch={self.vit_patch}: must divide the image size 28"
                )
            if self.vit_dim % self.vit_heads:
                raise ValueError(
                    f"RunConfig.vit_dim={self.vit_dim}: must be divisible by "
                    f"vit_heads={self.vit_heads}"
                )
        if self.model == "vit" and self.dataset == "synthetic":
            raise ValueError(
                "RunConfig.dataset='synthetic': the ViT needs images (use fashion_mnist)"
            )
        return self
