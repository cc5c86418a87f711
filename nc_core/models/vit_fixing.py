"""Which feedforward linears of a ViT the ETF-Transformer fixes, and the factory that fixes them.

The ETF-Transformer of Liu 2024 (arXiv 2412.00884, sec. on transformers) fixes the feedforward
layers of chosen ViT blocks to simplex ETFs. A block spec (`parse_blocks`) and a choice of
linears (`FFN_LINEARS`) name them (`ffn_linear_names`); `etf_factory` is the `linear_factory`
that builds them fixed, so `nc_core.models.vit.ViT` itself stays a plain model.
"""

from __future__ import annotations

import torch
from torch import nn

from nc_core.fixing.etf import FIXED_KINDS, ETFLinear, layer_seed
from nc_core.models.vit import LinearFactory, default_linear

FFN_LINEARS = ("fc1", "fc2", "both")


def parse_blocks(spec: str, depth: int) -> list[int]:
    """Block indices from a spec: "none", "all", "first:N", "last:N" or a comma list "0,2,5"."""
    bad = f"etf_blocks={spec!r} for depth={depth}"
    forms = "expected none, all, first:N, last:N or a comma list like 0,2,5"
    s = spec.strip().lower()
    if s == "none":
        return []
    if s == "all":
        return list(range(depth))
    head, sep, tail = s.partition(":")
    if sep:
        if head not in ("first", "last") or not tail.strip().isdigit():
            raise ValueError(f"{bad}: {forms}")
        n = int(tail)
        if not 1 <= n <= depth:
            raise ValueError(f"{bad}: N={n} must lie in 1..{depth}")
        return list(range(n)) if head == "first" else list(range(depth - n, depth))
    items = [item.strip() for item in s.split(",")]
    if not all(item.isdigit() for item in items):
        raise ValueError(f"{bad}: {forms}")
    blocks = sorted({int(item) for item in items})
    if blocks[-1] >= depth:
        raise ValueError(f"{bad}: block index {blocks[-1]} out of range 0..{depth - 1}")
    return blocks


def ffn_linear_names(blocks: list[int], linears: str) -> list[str]:
    """Dotted names of the feedforward linears of `blocks`: fc1, fc2 or both of each."""
    if linears not in FFN_LINEARS:
        raise ValueError(f"linears={linears!r}: expected one of {FFN_LINEARS}")
    suffixes = ("fc1", "fc2") if linears == "both" else (linears,)
    return [f"blocks.{i}.ffn.{fc}" for i in blocks for fc in suffixes]


def etf_factory(names: set[str], *, kind: str, seed: int) -> LinearFactory:
    """A `linear_factory` fixing the linears in `names` from construction; others are nn.Linear.

    kind "canonical" / "rotated": an ETFLinear whose weight is a simplex ETF.
    kind "orthogonal": a seeded random (semi-)orthogonal weight at the ETF's Frobenius norm: the
    control "any fixed isometry", at the ETF's scale (top singular value 1).
    kind "freeze": at construction there is no trained weight to keep, so the layer is fixed at a
    random init (trunc-normal, std .02, as the trained linears start; top singular value about
    0.4 for 64 x 128): the control "fixed at the init's scale". Scale and structure both differ
    from an ETF here; compare with orthogonal to separate them.
    """
    if kind not in FIXED_KINDS:
        raise ValueError(f"etf_factory kind={kind!r}: expected one of {FIXED_KINDS}")
    names = frozenset(names)

    def make(name: str, in_features: int, out_features: int) -> nn.Module:
        if name not in names:
            return default_linear(name, in_features, out_features)
        s = layer_seed(name, seed)
        if kind != "freeze":  # canonical, rotated, orthogonal: built from the shape and a seed
            return ETFLinear(in_features, out_features, kind=kind, seed=s)
        linear = nn.Linear(in_features, out_features)
        g = torch.Generator().manual_seed(s)
        nn.init.trunc_normal_(linear.weight, std=0.02, generator=g)
        nn.init.zeros_(linear.bias)
        return ETFLinear.from_linear(linear, kind="freeze", seed=s)

    return make
