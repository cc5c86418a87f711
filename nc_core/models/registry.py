"""The model registry: a network is one file that registers its builder, options and adapter.

    @dataclass(frozen=True)
    class TinyOptions:
        width: int = field(default=32, metadata={"help": "hidden width", "min": 1})

    @register_model("tiny", options=TinyOptions, adapter=tiny_adapter)
    def build_tiny(opts: TinyOptions, ctx: BuildContext) -> nn.Module:
        return Tiny(in_dim=ctx.in_features, width=opts.width, num_classes=ctx.num_classes)

The options dataclass is the model's part of a `RunConfig` (`RunConfig.arch`): each field is a
command-line flag (`--width`), a `--set` key and a column of every result row, named
`<model>_<field>` (`tiny_width`). An options class may define `check(self, ctx: BuildContext)`
raising ValueError for combinations its fields' types and bounds cannot express. `presets`
gives the options a named preset sets for this model (`{"smoke": {"width": 16}}`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from nc_core.models.adapter import ModelAdapter
from nc_core.registry import Registry


@dataclass(frozen=True)
class BuildContext:
    """What a model is built for: the data's input shape and classes, and how fixed layers are
    made (the ETF kind and the run's seed), for a model that fixes layers at construction."""

    input_shape: tuple[int, ...]  # one sample: (C, H, W) for images, (D,) for vectors
    num_classes: int  # K
    kind: str = "canonical"
    seed: int = 0

    @property
    def in_features(self) -> int:
        """Inputs of one flattened sample: prod(input_shape)."""
        return math.prod(self.input_shape)


Builder = Callable[[Any, BuildContext], nn.Module]
AdapterFn = Callable[[nn.Module, Any], ModelAdapter]


@dataclass(frozen=True)
class ModelEntry:
    """One registered network: how to build it, its options, what is measured in it."""

    name: str
    build: Builder
    options: type  # a frozen dataclass; its defaults are the model's defaults
    adapter: AdapterFn
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    module: str = ""
    doc: str = ""

    def option_names(self) -> tuple[str, ...]:
        """The names of the model's options, in field order."""
        return tuple(f.name for f in dataclasses.fields(self.options))

    def check(self, opts: Any, ctx: BuildContext) -> None:
        """Raise ValueError naming the first invalid option (the options' own `check`)."""
        checker = getattr(opts, "check", None)
        if checker is not None:
            checker(ctx)


MODELS: Registry[ModelEntry] = Registry("model")


def register_model(
    name: str,
    *,
    options: type,
    adapter: AdapterFn,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator: register the decorated `build(opts, ctx) -> nn.Module` as model `name`."""
    if not dataclasses.is_dataclass(options) or not options.__dataclass_params__.frozen:
        raise TypeError(f"register_model({name!r}): options must be a frozen dataclass")

    def decorate(build: Builder) -> Builder:
        MODELS.add(
            name,
            ModelEntry(
                name=name,
                build=build,
                options=options,
                adapter=adapter,
                presets=dict(presets or {}),
                module=build.__module__,
                doc=(build.__doc__ or "").strip().split("\n")[0],
            ),
            module=build.__module__,
        )
        return build

    return decorate


def get_model(name: str) -> ModelEntry:
    """The registered model `name` (ValueError naming the known ones otherwise)."""
    return MODELS.get(name)
