"""When to fix a layer: pure decisions on NCC errors, apart from the action (`freeze_to_etf`).

Adaptive-ETF (Liu 2024, arXiv 2412.00884) fixes a layer to a simplex ETF once its train NCC error
(1 - NCC accuracy with train-set class means) falls under eps. The effective depth is the first
layer whose NCC error is under eps (Galanti, Galanti & Ben-Shaul 2022).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nc_core.etf import FIXED_KINDS


def effective_depth(ncc_error: dict[str, float], eps: float) -> str | None:
    """The first layer (in the dict's input-to-output order) with NCC error <= eps, else None."""
    return next((name for name, err in ncc_error.items() if err <= eps), None)


def _check_kind(kind: str) -> None:
    if kind not in FIXED_KINDS:
        raise ValueError(f"policy kind={kind!r}: expected one of {FIXED_KINDS}")


class _FixedPlan:
    """A policy decided before training: nothing to decide later, no state to keep."""

    def decide(self, ncc_error: dict[str, float], epoch: int) -> list[str]:
        return []

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@dataclass
class NoFreeze(_FixedPlan):
    """The baseline: nothing is ever fixed."""

    kind: str = "canonical"

    def initial(self, layers: list[str]) -> list[str]:
        return []


@dataclass
class StaticETF(_FixedPlan):
    """Layers with index >= fix_from are fixed before training starts (the paper's Figure 1)."""

    fix_from: int
    kind: str = "canonical"

    def __post_init__(self):
        _check_kind(self.kind)
        if self.fix_from < 0:
            raise ValueError(f"StaticETF fix_from={self.fix_from}: must be >= 0")

    def initial(self, layers: list[str]) -> list[str]:
        if self.fix_from >= len(layers):
            raise ValueError(
                f"StaticETF fix_from={self.fix_from}: the model has {len(layers)} layers"
            )
        return list(layers[self.fix_from :])


@dataclass
class AdaptiveETF:
    """Fix a layer once its train NCC error is <= eps at `patience` consecutive evaluations.

    mode="layer" fixes the qualifying layers; mode="beyond" fixes the shallowest qualifying layer
    and every deeper one. Nothing is fixed before `min_epoch`; at most `max_fixed` layers are
    fixed in all (the deepest first). `layers` restricts which layers may be fixed. It never
    unfixes.
    """

    eps: float
    patience: int = 5
    mode: str = "layer"
    kind: str = "canonical"
    layers: list[str] | None = None
    min_epoch: int = 0
    max_fixed: int | None = None
    streak: dict[str, int] = field(default_factory=dict)
    fixed: dict[str, int] = field(default_factory=dict)  # layer -> epoch it was fixed at

    def __post_init__(self):
        _check_kind(self.kind)
        if not 0.0 <= self.eps <= 1.0:
            raise ValueError(
                f"AdaptiveETF eps={self.eps}: an NCC error threshold must lie in [0, 1]"
            )
        if self.patience < 1:
            raise ValueError(f"AdaptiveETF patience={self.patience}: must be >= 1")
        if self.mode not in ("layer", "beyond"):
            raise ValueError(f"AdaptiveETF mode={self.mode!r}: expected 'layer' or 'beyond'")

    def initial(self, layers: list[str]) -> list[str]:
        return []

    def decide(self, ncc_error: dict[str, float], epoch: int) -> list[str]:
        """Layers to fix now, given this evaluation's train NCC errors (input-to-output order)."""
        order = [n for n in ncc_error if self.layers is None or n in self.layers]
        for name in order:
            if name not in self.fixed:
                self.streak[name] = (
                    self.streak.get(name, 0) + 1 if ncc_error[name] <= self.eps else 0
                )
        if epoch < self.min_epoch:
            return []
        ready = [n for n in order if n not in self.fixed and self.streak.get(n, 0) >= self.patience]
        if self.mode == "beyond" and ready:
            first = order.index(ready[0])
            ready = [n for n in order[first:] if n not in self.fixed]
        if self.max_fixed is not None:
            room = max(self.max_fixed - len(self.fixed), 0)
            ready = ready[len(ready) - room :] if room else []
        for name in ready:
            self.fixed[name] = epoch
        return ready

    def state_dict(self) -> dict:
        return {"streak": dict(self.streak), "fixed": dict(self.fixed)}

    def load_state_dict(self, state: dict) -> None:
        self.streak, self.fixed = dict(state["streak"]), dict(state["fixed"])
