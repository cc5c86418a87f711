"""`RunConfig`: everything one training run needs, as one frozen dataclass (presets:
`nc_core.train.presets`).

The run's own fields are flat; the network's options are one frozen dataclass declared in the
model's file (`arch`: `MLPOptions`, `ViTOptions`, ...; `nc_core.models.registry`).
`to_dict()` flattens both into one dict, the model's options named `<model>_<option>`
(`mlp_width`, `vit_dim`): that dict is at once a Ray Tune `param_space`, a checkpoint's config and
the config columns of every Parquet row, so any result traces back to its exact configuration;
`from_dict` reads it back, and reads the names nc-core 0.1 used (`LEGACY_KEYS`). `of(**values)`
and `replace(**changes)` also take an option's short name (`width=64`), resolved against the
run's model. `validate()` runs before any work starts and names the field at fault.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from nc_core.data import DATASETS, get_dataset
from nc_core.fields import check_fields
from nc_core.fixing.etf import FIXED_KINDS
from nc_core.models import MODELS, BuildContext, get_model

# Each choice is declared once, as a Literal type or a registry; validation and every command
# line's choices and --help derive from it (nc_core.fields). Kinds are declared where they are
# built (nc_core.fixing.etf), models and datasets where they are registered.
Optimizer = Literal["sgd", "adamw"]
Schedule = Literal["constant", "multistep", "cosine"]
Policy = Literal["none", "adaptive", "static"]
Kind = Literal[FIXED_KINDS]
Mode = Literal["layer", "beyond"]
Precision = Literal["fp32", "bf16"]
KINDS = typing.get_args(Kind)
DEVICE_FORM = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
MAX_SEED = 2**32 - 2  # seed + 1 seeds torch too; numpy-style seeds stay below 2**32
# Config keys of nc-core 0.1, whose RunConfig was one flat dataclass: read as today's names.
LEGACY_KEYS = {
    "width": "mlp_width",
    "depth": "mlp_depth",
    "batch_norm": "mlp_batch_norm",
    "etf_blocks": "vit_etf_blocks",
    "etf_linears": "vit_etf_linears",
}


def model_names() -> tuple[str, ...]:
    """The registered models' names (RunConfig.model's choices)."""
    return MODELS.names()


def dataset_names() -> tuple[str, ...]:
    """The registered datasets' names (RunConfig.dataset's choices)."""
    return DATASETS.names()


@dataclass(frozen=True)
class RunConfig:
    """One training run. Field docs double as the command line's `--help`."""

    # model
    model: str = field(
        default="mlp", metadata={"help": "network (a registered model)", "choices": model_names}
    )
    arch: Any = field(
        default=None,
        metadata={"help": "the model's options (its options dataclass; None: its defaults)"},
    )
    # data
    dataset: str = field(
        default="fashion_mnist",
        metadata={"help": "training data (a registered dataset)", "choices": dataset_names},
    )
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
    num_classes: int | None = field(
        default=None,
        metadata={
            "help": "classes K of generated data (none: the dataset's own K, 10 for generated data)"
        },
    )

    def __post_init__(self) -> None:
        data = DATASETS.get(self.dataset) if self.dataset in DATASETS else None
        if data is not None and data.num_classes is None and self.num_classes is None:
            object.__setattr__(self, "num_classes", 10)  # generated data: K always written
        elif data is not None and data.num_classes == self.num_classes:
            object.__setattr__(self, "num_classes", None)  # the dataset's own K: one spelling
        entry = get_model(self.model)
        if self.arch is None:
            object.__setattr__(self, "arch", entry.options())
        elif isinstance(self.arch, Mapping):
            object.__setattr__(self, "arch", entry.options(**self.arch))
        elif type(self.arch) is not entry.options:
            raise ValueError(
                f"RunConfig.arch: a {type(self.arch).__name__}, but model={self.model!r} takes "
                f"{entry.options.__name__}"
            )

    # ---------------------------------------------------------------- flat form

    def to_dict(self) -> dict[str, Any]:
        """The flat form: every run field, the model's options as `<model>_<option>`."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "arch":
                out.update(
                    {f"{self.model}_{k}": v for k, v in dataclasses.asdict(self.arch).items()}
                )
            else:
                out[f.name] = getattr(self, f.name)
        return out

    @classmethod
    def from_dict(cls, flat: Mapping[str, Any], *, strict: bool = False) -> RunConfig:
        """A RunConfig from its flat form (`to_dict`), or one of nc-core 0.1 (`LEGACY_KEYS`).

        Keys of another model's options are ignored (a 0.1 config carries every model's);
        `strict` refuses them and any unknown key, naming the key."""
        flat = upgrade_keys(flat)
        model = flat.get("model", RUN_FIELDS["model"].default)
        entry = get_model(model)
        prefix, names = f"{model}_", entry.option_names()
        arch, run = {}, {}
        for key, value in flat.items():
            if key in RUN_FIELDS and key != "arch":
                run[key] = value
            elif key.startswith(prefix) and key[len(prefix) :] in names:
                arch[key[len(prefix) :]] = value
            elif strict:
                raise ValueError(unknown_key(key, model))
        return cls(**run, arch=entry.options(**arch))

    @classmethod
    def of(cls, **values: Any) -> RunConfig:
        """A RunConfig from flat keys or option short names (`RunConfig.of(model="vit",
        dim=32)`), every other field at its default; ValueError naming an unknown key."""
        model = values.get("model", RUN_FIELDS["model"].default)
        return cls.from_dict(canonical_keys(model, values), strict=True)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with `changes` (flat keys or option short names). A new `model` starts from
        its own default options, then takes the option changes given."""
        model = changes.get("model", self.model)
        base = self.to_dict()
        if model != self.model:
            base = {k: v for k, v in base.items() if k in RUN_FIELDS}
        return RunConfig.from_dict({**base, **canonical_keys(model, changes)}, strict=True)

    def build_context(self) -> BuildContext:
        """What the model is built for: the dataset's sample shape and classes, kind, seed."""
        data = get_dataset(self.dataset)
        K = data.num_classes or self.num_classes or 10
        return BuildContext(data.input_shape, K, kind=self.kind, seed=self.seed)

    # ---------------------------------------------------------------- checks

    def validate(self) -> RunConfig:
        """Raise ValueError naming the first invalid field; return self when all are valid."""
        check_fields(self, label="RunConfig.")
        check_fields(self.arch, label=f"RunConfig.{self.model}_")
        for name in ("epochs", "batch_size", "patience", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"RunConfig.{name}={getattr(self, name)}: must be >= 1")
        for name in ("subset", "nc_samples", "max_fixed", "fix_from"):
            value = getattr(self, name)
            if value is not None and value < (1 if name in ("subset", "nc_samples") else 0):
                raise ValueError(f"RunConfig.{name}={value}: must be positive (or None)")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"RunConfig.seed={self.seed}: must lie in 0..{MAX_SEED}")
        if not DEVICE_FORM.fullmatch(self.device):
            raise ValueError(
                f"RunConfig.device={self.device!r}: expected auto, cpu, mps, cuda or cuda:N"
            )
        if not 0.0 <= self.eps <= 1.0:
            raise ValueError(f"RunConfig.eps={self.eps}: an NCC error threshold must lie in [0, 1]")
        if self.lr <= 0:
            raise ValueError(f"RunConfig.lr={self.lr}: must be > 0")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"RunConfig.momentum={self.momentum}: must lie in [0, 1)")
        for name in ("weight_decay", "min_epoch", "warmup_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"RunConfig.{name}={getattr(self, name)}: must be >= 0")
        if self.policy == "static" and self.fix_from is None:
            raise ValueError(
                "RunConfig.fix_from=None: policy='static' needs the first fixed layer index"
            )
        data = get_dataset(self.dataset)
        if self.num_classes is not None:
            if self.num_classes < 2:
                raise ValueError(
                    f"RunConfig.num_classes={self.num_classes}: a classifier needs >= 2"
                )
            if data.num_classes is not None and self.num_classes != data.num_classes:
                raise ValueError(
                    f"RunConfig.num_classes={self.num_classes}: {self.dataset} has "
                    f"{data.num_classes} classes (leave num_classes unset)"
                )
        if self.subset is not None and self.subset > data.train_per_class:
            raise ValueError(
                f"RunConfig.subset={self.subset}: {self.dataset} has {data.train_per_class} "
                f"train samples per class; pass at most {data.train_per_class} (or none for all)"
            )
        ctx = self.build_context()
        get_model(self.model).check(self.arch, ctx)
        if self.fix_from is not None:
            n_layers = len(measured_layers(self.model, self.arch, ctx))
            if self.fix_from >= n_layers:
                raise ValueError(
                    f"RunConfig.fix_from={self.fix_from}: the {self.model} has {n_layers} "
                    f"measured layers; expected 0..{n_layers - 1}"
                )
        return self

    @property
    def K(self) -> int:
        """The number of classes: the dataset's, or `num_classes` for generated data (10 when
        unset)."""
        return self.build_context().num_classes


RUN_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


@functools.lru_cache(maxsize=64)
def measured_layers(model: str, arch: Any, ctx: BuildContext) -> tuple[str, ...]:
    """The measured layers of model `model` with options `arch` built for `ctx`, input to
    output (the model is built once on the CPU, torch's RNG left as it was)."""
    entry = get_model(model)
    with torch.random.fork_rng(devices=[]):
        net = entry.build(arch, ctx)
    return tuple(entry.adapter(net, arch).layers)


def upgrade_keys(flat: Mapping[str, Any]) -> dict[str, Any]:
    """`flat` with nc-core 0.1's key names (`LEGACY_KEYS`) read as today's."""
    out = {}
    for key, value in flat.items():
        new = LEGACY_KEYS.get(key, key)
        if new not in flat or new == key:
            out[new] = value
    return out


def canonical_keys(model: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with each option short name (`width`) written as its flat key (`mlp_width`)
    for `model`; run fields and flat keys as they are."""
    names = get_model(model).option_names()
    return {
        (f"{model}_{k}" if k in names and k not in RUN_FIELDS else k): v for k, v in values.items()
    }


def unknown_key(key: str, model: str) -> str:
    """The message for a config key that is neither a run field nor an option of `model`."""
    import difflib

    entry = get_model(model)
    for other in MODELS:
        if other != model and key.startswith(f"{other}_"):
            if key[len(other) + 1 :] in get_model(other).option_names():
                return (
                    f"RunConfig.{key}: an option of model {other!r}, and this run's model is "
                    f"{model!r} (its options: {', '.join(entry.option_names())})"
                )
    owners = [m for m in MODELS if key in get_model(m).option_names()]
    if owners:
        return (
            f"RunConfig.{key}: an option of model {' and '.join(map(repr, owners))}, and this "
            f"run's model is {model!r} (its options: {', '.join(entry.option_names())})"
        )
    known = [k for k in RUN_FIELDS if k != "arch"] + list(entry.option_names())
    close = difflib.get_close_matches(key, known, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"RunConfig.{key}: not a run field nor an option of model {model!r}{hint}"


def parse_setting(model: str, key: str, text: str) -> tuple[str, Any]:
    """One `KEY=VALUE` setting read for a run of `model`: (flat key, typed value). KEY is a run
    field, an option of `model` (short or `<model>_<option>`), or a 0.1 name; ValueError names
    KEY and what is allowed, suggesting the closest names."""
    from nc_core.fields import parse_value

    key = LEGACY_KEYS.get(key, key) if key not in RUN_FIELDS else key
    if key in RUN_FIELDS and key != "arch":
        return key, parse_value(RunConfig, key, text)
    entry = get_model(model)
    short = key[len(model) + 1 :] if key.startswith(f"{model}_") else key
    if short in entry.option_names():
        return f"{model}_{short}", parse_value(entry.options, short, text)
    raise ValueError(unknown_key(key, model))
