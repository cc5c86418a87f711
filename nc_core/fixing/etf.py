"""Simplex equiangular tight frames (ETFs) and the layers fixed to them.

A simplex ETF of k vectors is M = sqrt(k/(k-1)) (I_k - 1 1^T / k): k unit vectors with pairwise
cosine -1/(k-1), the geometry class means collapse to (Papyan, Han & Donoho 2020). Fixing a
classifier to one is Zhu et al. 2021; fixing it after a random rotation is Yang et al. 2022;
fixing hidden layers past the effective depth is Liu 2024 (arXiv 2412.00884).

Convolutions are fixed by this project's extension of that rule past linear layers: a k x k conv
with weight (C_out, C_in/groups, k, k) is read as the matrix (C_out, C_in/groups * k * k) it
applies to each input patch, and that matrix is set to its kind's frame (`ETFConv2d`), or kept
as trained (kind "freeze").
"""

from __future__ import annotations

import math
import zlib

import torch
from torch import nn

ETF_KINDS = ("canonical", "rotated")
# What a fixed layer becomes: a simplex ETF (canonical, rotated), the control "any fixed
# isometry" at the ETF's scale (orthogonal), or its trained weight kept as it was (freeze).
FIXED_KINDS = ("canonical", "rotated", "orthogonal", "freeze")
BUILT_KINDS = ("canonical", "rotated", "orthogonal")  # a matrix made from the shape and a seed


def simplex_etf(rows: int, cols: int, *, kind: str = "canonical", seed: int = 0) -> torch.Tensor:
    """(rows, cols) matrix whose k = min(rows, cols) smaller-side vectors form a simplex ETF.

    canonical: M in the leading k x k block, zeros elsewhere.
    rotated:   W = M U^T (rows <= cols) or W = U M (rows > cols), U (max, k) with orthonormal
               columns from the QR of a Gaussian matrix seeded by `seed`.
    """
    if kind not in ETF_KINDS:
        raise ValueError(f"simplex_etf kind={kind!r}: expected one of {ETF_KINDS}")
    k, n = min(rows, cols), max(rows, cols)
    if k < 2:
        raise ValueError(f"simplex_etf({rows}, {cols}): a simplex needs k = min(rows, cols) >= 2")
    M = math.sqrt(k / (k - 1)) * (torch.eye(k, dtype=torch.float64) - 1.0 / k)  # (k, k)
    if kind == "canonical":
        W = torch.zeros(rows, cols, dtype=torch.float64)
        W[:k, :k] = M
        return W.float()
    g = torch.Generator().manual_seed(int(seed))
    U, R = torch.linalg.qr(torch.randn(n, k, generator=g, dtype=torch.float64))  # (n, k)
    U = U * torch.sign(torch.diagonal(R)).unsqueeze(0)  # unique QR: positive diag of R
    W = M @ U.T if rows <= cols else U @ M  # (rows, cols)
    return W.float()


def random_orthogonal(rows: int, cols: int, *, seed: int = 0) -> torch.Tensor:
    """(rows, cols) seeded random semi-orthogonal matrix at the Frobenius norm of the simplex ETF
    of that shape: "any fixed isometry", the control that separates ETF geometry from fixing.

    Q from the QR of a Gaussian (max, k) matrix (k = min(rows, cols)), transposed for a wide
    shape, so Q has orthonormal rows (rows <= cols) or columns (rows > cols): |Q|_F^2 = k. The
    ETF's k-1 non-zero singular values are sqrt(k/(k-1)), so |M|_F^2 = k too and the scale is 1;
    it is still computed from the ETF so the two can never drift apart.
    """
    k, n = min(rows, cols), max(rows, cols)
    if k < 2:
        raise ValueError(f"random_orthogonal({rows}, {cols}): needs min(rows, cols) >= 2")
    g = torch.Generator().manual_seed(int(seed) + 1)  # +1: never the rotated kind's U
    Q, R = torch.linalg.qr(torch.randn(n, k, generator=g, dtype=torch.float64))  # (n, k)
    Q = Q * torch.sign(torch.diagonal(R)).unsqueeze(0)
    Q = Q.T if rows <= cols else Q  # (rows, cols)
    etf_norm = simplex_etf(rows, cols, kind="canonical").double().norm()
    return (Q * (etf_norm / Q.norm())).float()


def fixed_matrix(rows: int, cols: int, *, kind: str, seed: int = 0) -> torch.Tensor:
    """The (rows, cols) weight a layer is fixed to, for a kind made from its shape and a seed."""
    if kind == "orthogonal":
        return random_orthogonal(rows, cols, seed=seed)
    if kind in ETF_KINDS:
        return simplex_etf(rows, cols, kind=kind, seed=seed)
    raise ValueError(f"fixed_matrix kind={kind!r}: expected one of {BUILT_KINDS}")


class ETFLinear(nn.Module):
    """y = x W^T + b with W a fixed buffer (never a Parameter) and b trainable.

    `kind` records what W is: "canonical" / "rotated" (a simplex ETF), "orthogonal" (a random
    isometry at the ETF's scale: the control for ETF geometry) or "freeze" (a trained weight
    kept as it was: the control for freezing alone).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        kind: str = "canonical",
        seed: int = 0,
        weight: torch.Tensor | None = None,
    ):
        super().__init__()
        if kind not in FIXED_KINDS:
            raise ValueError(f"ETFLinear kind={kind!r}: expected one of {FIXED_KINDS}")
        self.in_features, self.out_features, self.kind = in_features, out_features, kind
        if weight is None:
            if kind == "freeze":
                raise ValueError(
                    "ETFLinear kind='freeze' needs the weight to keep (use from_linear)"
                )
            weight = fixed_matrix(out_features, in_features, kind=kind, seed=seed)
        if weight.shape != (out_features, in_features):
            raise ValueError(
                f"ETFLinear weight shape {tuple(weight.shape)}: "
                f"expected ({out_features}, {in_features})"
            )
        self.register_buffer("weight", weight.detach().clone())  # (out, in)
        self.bias = nn.Parameter(torch.zeros(out_features, dtype=weight.dtype)) if bias else None

    @classmethod
    def from_linear(cls, linear: nn.Linear, *, kind: str = "canonical", seed: int = 0) -> ETFLinear:
        """The fixed replacement of `linear`: same shape, device, dtype; its trained bias kept."""
        w = linear.weight.detach()
        weight = w if kind == "freeze" else fixed_matrix(*w.shape, kind=kind, seed=seed)
        layer = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            kind=kind,
            seed=seed,
            weight=weight.to(w.dtype),
        )
        if linear.bias is not None:
            layer.bias.data.copy_(linear.bias.detach())
        return layer.to(device=w.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_features) -> x W^T + b (..., out_features), W the fixed weight."""
        return nn.functional.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        """The layer's shape and kind, shown in the module's repr."""
        return f"in_features={self.in_features}, out_features={self.out_features}, kind={self.kind}"


class ETFConv2d(nn.Module):
    """A 2-d convolution whose weight W (C_out, C_in/groups, kh, kw) is a fixed buffer (never a
    Parameter) and whose bias b, if any, trains: the conv counterpart of `ETFLinear`.

    For the kinds built from a shape, W reshaped to (C_out, C_in/groups * kh * kw) is
    `fixed_matrix` of that shape: its smaller side's vectors form a simplex ETF (canonical,
    rotated) or are orthonormal at the ETF's scale (orthogonal). "freeze" keeps a trained weight.
    Stride, padding, dilation and groups are the replaced conv's; zero padding only.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int],
        *,
        stride: tuple[int, int] = (1, 1),
        padding: tuple[int, int] | str = (0, 0),
        dilation: tuple[int, int] = (1, 1),
        groups: int = 1,
        bias: bool = True,
        kind: str = "canonical",
        seed: int = 0,
        weight: torch.Tensor | None = None,
    ):
        super().__init__()
        if kind not in FIXED_KINDS:
            raise ValueError(f"ETFConv2d kind={kind!r}: expected one of {FIXED_KINDS}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"ETFConv2d groups={groups}: must divide in_channels={in_channels} and "
                f"out_channels={out_channels}"
            )
        kh, kw = kernel_size
        shape = (out_channels, in_channels // groups, kh, kw)
        if weight is None:
            if kind == "freeze":
                raise ValueError("ETFConv2d kind='freeze' needs the weight to keep (from_conv)")
            weight = conv_frame(shape, kind=kind, seed=seed)
        if tuple(weight.shape) != shape:
            raise ValueError(f"ETFConv2d weight shape {tuple(weight.shape)}: expected {shape}")
        self.in_channels, self.out_channels, self.kind = in_channels, out_channels, kind
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.dilation, self.groups = dilation, groups
        self.register_buffer("weight", weight.detach().clone())  # (C_out, C_in/g, kh, kw)
        self.bias = nn.Parameter(torch.zeros(out_channels, dtype=weight.dtype)) if bias else None

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, *, kind: str = "canonical", seed: int = 0) -> ETFConv2d:
        """The fixed replacement of `conv`: same shape, geometry, device, dtype; its trained bias
        kept."""
        if conv.padding_mode != "zeros":
            raise ValueError(
                f"ETFConv2d: padding_mode={conv.padding_mode!r}; only 'zeros' can be fixed"
            )
        w = conv.weight.detach()
        weight = w if kind == "freeze" else conv_frame(tuple(w.shape), kind=kind, seed=seed)
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            kind=kind,
            seed=seed,
            weight=weight.to(w.dtype),
        )
        if conv.bias is not None:
            layer.bias.data.copy_(conv.bias.detach())
        return layer.to(device=w.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C_in, H, W) -> the convolution with the fixed weight, plus b (B, C_out, H', W')."""
        return nn.functional.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        """The layer's shape, geometry and kind, shown in the module's repr."""
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, kind={self.kind}"
        )


FIXED_LAYERS = (ETFLinear, ETFConv2d)  # what a fixed layer is, whichever it replaced


def conv_frame(shape: tuple[int, ...], *, kind: str, seed: int = 0) -> torch.Tensor:
    """A conv weight of `shape` (C_out, C_in/groups, kh, kw) whose matrix (C_out, C_in/groups *
    kh * kw) is `fixed_matrix` of that shape for `kind`."""
    rows = shape[0]
    cols = math.prod(shape[1:])
    return fixed_matrix(rows, cols, kind=kind, seed=seed).reshape(shape)


def freeze_to_etf(
    model: nn.Module, name: str, *, kind: str = "canonical", seed: int = 0
) -> ETFLinear | ETFConv2d:
    """Replace the nn.Linear (nn.Conv2d) at dotted path `name` by its ETFLinear (ETFConv2d), in
    place; return the new layer.

    kind="freeze" keeps the trained weight (see `freeze_in_place`).
    """
    layer = model.get_submodule(name)
    if isinstance(layer, FIXED_LAYERS):
        raise ValueError(f"layer {name!r} is already fixed (as {layer.kind})")
    if isinstance(layer, nn.Linear):
        new = ETFLinear.from_linear(layer, kind=kind, seed=seed)
    elif isinstance(layer, nn.Conv2d):
        new = ETFConv2d.from_conv(layer, kind=kind, seed=seed)
    else:
        raise ValueError(
            f"layer {name!r} is a {type(layer).__name__}, not an nn.Linear or nn.Conv2d"
        )
    if layer.bias is not None:
        new.bias = layer.bias  # the same Parameter: an optimizer keeps its momentum for it
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
    return new


def freeze_in_place(model: nn.Module, name: str) -> ETFLinear | ETFConv2d:
    """The control: the layer keeps its trained weight, which stops training (bias trains on)."""
    return freeze_to_etf(model, name, kind="freeze")


def layer_seed(name: str, seed: int) -> int:
    """`seed` plus a stable per-layer offset (CRC32 of the name, the same in every process), so
    each fixed layer gets its own rotation and a run's seed still determines them all."""
    return seed + zlib.crc32(name.encode("utf-8"))


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; fixed ETF weights (buffers) count toward the total."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    fixed = sum(m.weight.numel() for m in model.modules() if isinstance(m, FIXED_LAYERS))
    return trainable, trainable + frozen + fixed
