"""Taps: forward hooks that only collect layer outputs, and streaming passes built on them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

import torch
from torch import nn

from nc_core.measure.class_stats import ClassStats

Reduce = Callable[[torch.Tensor], torch.Tensor]


def flatten(output: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B, D)."""
    return output.reshape(output.shape[0], -1)


class LayerTap:
    """Context manager: forward hooks on `names` that hand each output, as (B, D), to a consumer.

    The default consumer keeps the latest output of each layer in `self.outputs`. The hooks
    compute nothing; every handle is removed on exit, also when the body raised.
    """

    def __init__(
        self,
        model: nn.Module,
        names: Iterable[str],
        *,
        reduce: Reduce | None = None,
        consumer: Callable[[str, torch.Tensor], None] | None = None,
    ):
        modules = dict(model.named_modules())
        self.names = list(names)
        unknown = [n for n in self.names if n not in modules or n == ""]
        if unknown:
            valid = [n for n in modules if n]
            raise ValueError(f"LayerTap: unknown layer(s) {unknown}; valid names: {valid}")
        self._modules = [modules[n] for n in self.names]
        self._reduce = reduce or flatten
        self._consumer = consumer or self._keep
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles: list = []

    def _keep(self, name: str, features: torch.Tensor) -> None:
        self.outputs[name] = features

    def __enter__(self) -> LayerTap:
        for name, module in zip(self.names, self._modules, strict=True):

            def hook(_module, _inputs, output, name=name):
                self._consumer(name, self._reduce(output))

            self._handles.append(module.register_forward_hook(hook))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


class eval_mode:
    """Eval mode and no_grad for a pass, each module's previous training flag restored afterwards.

    Flags are kept per module: `model.train(flag)` would also flip sub-modules deliberately kept
    in eval (a frozen BatchNorm, say).
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.was_training = [(m, m.training) for m in model.modules()]
        self.no_grad = torch.no_grad()

    def __enter__(self):
        self.model.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc):
        self.no_grad.__exit__(*exc)
        for module, training in self.was_training:
            module.training = training


def layer_stats(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    names: Iterable[str],
    num_classes: int,
    *,
    reduce: Reduce | None = None,
    covariance: bool | Collection[str] = True,
) -> dict[str, ClassStats]:
    """One streaming pass: per named layer, the ClassStats of its outputs over `batches`.

    `covariance`: for all layers (True), none (False) or the named ones (a collection).
    """
    stats: dict[str, ClassStats] = {}
    labels: list[torch.Tensor] = []

    def consume(name: str, features: torch.Tensor) -> None:
        if name not in stats:
            cov = covariance if isinstance(covariance, bool) else name in covariance
            stats[name] = ClassStats(
                num_classes, features.shape[1], device=features.device, covariance=cov
            )
        stats[name].update(features, labels[0])

    with eval_mode(model), LayerTap(model, names, reduce=reduce, consumer=consume):
        for x, y in batches:
            labels[:] = [y]
            model(x)
    return stats
