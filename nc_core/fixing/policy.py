"""When to fix a layer: pure decisions on NCC errors, apart from the action (`freeze_to_etf`).

Adaptive-ETF (Liu 2024, arXiv 2412.00884) fixes a layer to a simplex ETF once its train NCC error
(the share of the NC sample that the train-set class means misclassify) falls under eps. The
paper says it two ways, and both are modes here: its method text, "we fix a given layer [...] if
its NCC error falls under ε" (mode="layer"), and its abstract, "enforces simplex ETF constraints
on all layers beyond the effective depth" (mode="beyond", the suffix definition of
`nc_core.measure.depth`). Errors are compared with eps exactly (`nc_core.measure.threshold`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nc_core.fixing.etf import FIXED_KINDS
from nc_core.measure.depth import first_of_suffix
from nc_core.measure.threshold import within

# The two readings of Adaptive-ETF's rule (module docstring); "layer" is the default because it
# is what the paper's method text specifies, and each qualifying layer is fixed on its own
# evidence; "beyond" adds the assumption that collapse, once reached, holds to the output.
MODES = ("layer", "beyond")


def _check_kind(kind: str) -> None:
    if kind not in FIXED_KINDS:
        raise ValueError(f"policy kind={kind!r}: expected one of {FIXED_KINDS}")


class _FixedPlan:
    """A policy decided before training: nothing to decide later, no state to keep."""

    def observe(self, ncc_error: dict[str, float]) -> None:
        pass

    def ready(self, epoch: int) -> list[str]:
        return []

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
        """Layers to fix before training, of `layers` (input-to-output order): none."""
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
        """Layers to fix before training, of `layers` (input-to-output order): those with
        index >= fix_from; ValueError when the model has no layer at fix_from."""
        if self.fix_from >= len(layers):
            raise ValueError(
                f"StaticETF fix_from={self.fix_from}: the model has {len(layers)} layers"
            )
        return list(layers[self.fix_from :])


@dataclass
class AdaptiveETF:
    """Fix a layer once its train NCC error is <= eps at `patience` consecutive evaluations.

    A layer *qualifies* once it is fixed or its streak of evaluations <= eps reaches `patience`;
    an error is a Fraction wrong / n (or a decimal), compared with eps read as the decimal it was
    written as, so an error exactly at eps qualifies. mode="layer" fixes every qualifying layer.
    mode="beyond" fixes the suffix from the effective depth by the suffix definition
    (`nc_core.measure.depth.suffix_depth`, over qualification): the first layer from which on
    every layer to the output qualifies; nothing when the output does not. Nothing is fixed
    before `min_epoch`; at most `max_fixed` layers in all, keeping the deepest candidates.
    `layers` restricts which layers may be fixed (all measured layers still count for the
    suffix). It never unfixes.

    `decide` = `observe` (update the streaks from one evaluation) + `ready` (what to fix now).
    The training loop calls `observe` alone after the last epoch, so nothing is fixed that
    would never be trained or measured; an extended run calls `ready` before going on.
    """

    eps: float
    patience: int = 5
    mode: str = "layer"
    kind: str = "canonical"
    layers: list[str] | None = None
    min_epoch: int = 0
    max_fixed: int | None = None
    streak: dict[str, int] = field(default_factory=dict)  # measured layer -> streak, in order
    fixed: dict[str, int] = field(default_factory=dict)  # layer -> epoch it was fixed at

    def __post_init__(self):
        _check_kind(self.kind)
        if not 0.0 <= self.eps <= 1.0:
            raise ValueError(
                f"AdaptiveETF eps={self.eps}: an NCC error threshold must lie in [0, 1]"
            )
        if self.patience < 1:
            raise ValueError(f"AdaptiveETF patience={self.patience}: must be >= 1")
        if self.mode not in MODES:
            raise ValueError(f"AdaptiveETF mode={self.mode!r}: expected one of {MODES}")

    def initial(self, layers: list[str]) -> list[str]:
        """Layers to fix before training, of `layers` (input-to-output order): none; layers are
        fixed as their NCC errors fall."""
        return []

    def observe(self, ncc_error: dict[str, float]) -> None:
        """Update each unfixed layer's streak from one evaluation (input-to-output order)."""
        for name, err in ncc_error.items():
            if name not in self.fixed:
                self.streak[name] = self.streak.get(name, 0) + 1 if within(err, self.eps) else 0
            else:
                self.streak.setdefault(name, 0)

    def ready(self, epoch: int) -> list[str]:
        """Layers to fix now (after evaluation `epoch`), recorded as fixed at `epoch`."""
        if epoch < self.min_epoch:
            return []
        order = list(self.streak)  # every measured layer, input to output
        qualified = {n: n in self.fixed or self.streak[n] >= self.patience for n in order}
        if self.mode == "beyond":
            first = first_of_suffix(qualified)
            candidates = order[order.index(first) :] if first is not None else []
        else:
            candidates = [n for n in order if qualified[n]]
        allowed = set(order if self.layers is None else self.layers)
        ready = [n for n in candidates if n in allowed and n not in self.fixed]
        if self.max_fixed is not None:
            room = max(self.max_fixed - len(self.fixed), 0)
            ready = ready[len(ready) - room :] if room else []  # the deepest
        for name in ready:
            self.fixed[name] = epoch
        return ready

    def decide(self, ncc_error: dict[str, float], epoch: int) -> list[str]:
        """Layers to fix now, given this evaluation's train NCC errors (input-to-output order)."""
        self.observe(ncc_error)
        return self.ready(epoch)

    def state_dict(self) -> dict:
        """The policy's state to checkpoint: each layer's streak and the epochs layers were
        fixed at."""
        return {"streak": dict(self.streak), "fixed": dict(self.fixed)}

    def load_state_dict(self, state: dict) -> None:
        """Restore the streaks and fixed layers from `state`, a `state_dict()`."""
        self.streak, self.fixed = dict(state["streak"]), dict(state["fixed"])
