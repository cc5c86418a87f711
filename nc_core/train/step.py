"""The training step's forward and loss, eager or compiled: `TrainStep(model, ...)(x, y)`.

`step(x, y) -> (loss, hits)`: the mini-batch's mean cross-entropy and its count of correct
predictions, both 0-dim tensors left on the device (the caller runs `loss.backward()` and the
optimizer, and synchronises once per epoch). Compiled (`RunConfig.compile`), forward and loss
are one `torch.compile` graph with `fullgraph=True` (a graph break is an error, never a silent
fall-back to eager), its backward compiled with it by AOTAutograd; on CUDA in mode
"reduce-overhead", i.e. replayed as CUDA graphs. The optimizer step stays eager: it is one
foreach update already, and compiling it would recompile at every learning-rate change unless
the learning rate were a tensor.

Re-capture: fixing a layer swaps an `nn.Linear` for an `ETFLinear`, so the graph captured before
no longer describes the model. `begin_epoch()` compares the model's structure (each module's name
and type) with the one captured, and on a change resets torch's compiler caches and compiles
afresh. `torch.compiler.reset()` is process-wide: another compiled function in the same process
only recompiles on its next call. Each batch shape gets its own graph (`dynamic=False`): the full
batches and the last, partial one.

Compiled records match eager ones within rounding, not bit for bit: Inductor fuses and reorders
floating-point reductions. With dropout > 0 the compiled step draws different random numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def forward_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, bf16: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean cross-entropy, correct predictions) of `model` on the batch `(x, y)`."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(x)  # (B, K)
        loss = F.cross_entropy(logits, y)
    return loss, (logits.detach().argmax(1) == y).sum()


def structure(model: nn.Module) -> tuple[tuple[str, str], ...]:
    """Each module's dotted name and type: what changes when a layer is fixed."""
    return tuple((name, type(m).__name__) for name, m in model.named_modules())


class TrainStep:
    """Forward and loss of `model`, compiled when `compile` (see the module docstring)."""

    def __init__(self, model: nn.Module, *, bf16: bool, compile: bool, device: torch.device):
        self.model, self.bf16, self.compile = model, bf16, compile
        self.cuda_graphs = compile and device.type == "cuda"
        self.captures = 0  # how many times the step was (re)compiled
        self._captured: tuple | None = None
        self._fn = forward_loss

    def begin_epoch(self) -> None:
        """Re-capture when the model's structure changed since the last capture."""
        if not self.compile or self._captured == structure(self.model):
            return
        if self._captured is not None:
            for p in self.model.parameters():  # no gradient may outlive the graphs it came from
                p.grad = None
            torch.compiler.reset()
        mode = "reduce-overhead" if self.cuda_graphs else None
        self._fn = torch.compile(forward_loss, mode=mode, dynamic=False, fullgraph=True)
        self._captured = structure(self.model)
        self.captures += 1

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()  # the last step's outputs are consumed
        return self._fn(self.model, x, y, self.bf16)
