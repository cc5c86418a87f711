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
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nc_core.data import DATASETS, get_dataset
from nc_core.data.augment import AUGMENTS
from nc_core.fixing.etf import FIXED_KINDS
from nc_core.models import MODELS, BuildContext, get_model
from nc_core.train.keys import canonical_keys, unknown_key, upgrade_keys

# Each choice is declared once, as a Literal type or a registry; validation and every command
# line's choices and --help derive from it (nc_core.fields). Kinds are declared where they are
# built (nc_core.fixing.etf), models and datasets where they are registered.
Optimizer = Literal["sgd", "adamw"]
Schedule = Literal["constant", "multistep", "cosine"]
Policy = Literal["none", "adaptive", "static"]
Kind = Literal[FIXED_KINDS]
Mode = Literal["layer", "beyond"]
Precision = Literal["fp32", "bf16"]
Augment = Literal[AUGMENTS]
KINDS = typing.get_args(Kind)


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
    augment: Augment = field(
        default="none",
        metadata={
            "help": "train-batch augmentation: none, or crop_flip (pad 4, random crop, "
            "left-right flip; images only)"
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
            "wide layer reads the pixels through a rank-(k-1) map (canonical reads only the "
            "first k of 784 pixels), which is input truncation, not collapse geometry"
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
        clash = set(entry.option_names()) & set(RUN_FIELDS)
        if clash:
            raise ValueError(
                f"model {self.model!r}: options {sorted(clash)} have the names of run fields; "
                "rename them in the model's options dataclass"
            )
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
                raise ValueError(unknown_key(key, model, RUN_FIELDS))
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
        """Raise ValueError naming the first invalid field; return self when all are valid
        (`nc_core.train.checks.check_run`: every check runs before any data is loaded)."""
        from nc_core.train.checks import check_run

        check_run(self)
        return self

    @property
    def K(self) -> int:
        """The number of classes: the dataset's, or `num_classes` for generated data (10 when
        unset)."""
        return self.build_context().num_classes


RUN_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
