"""A small pre-norm Vision Transformer whose feedforward linears come from an injected factory.

timm-style injection: the model asks a `linear_factory(name, in_features, out_features)` for
every feedforward linear, so a variant is a different factory, never a flag inside `forward`.
Which linears the ETF-Transformer of Liu 2024 fixes, and what is measured (each block's CLS token
and the logits), are `nc_core.models.vit_fixing`, where the ViT is registered as a model. The
model knows nothing of either.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nc_core.fixing.etf import ETFLinear

LinearFactory = Callable[[str, int, int], nn.Module]


def default_linear(name: str, in_features: int, out_features: int) -> nn.Linear:
    """The trainable baseline: a plain nn.Linear (`name` is unused)."""
    return nn.Linear(in_features, out_features)


def cls_features(output: torch.Tensor) -> torch.Tensor:
    """Features of a tapped output: the CLS token of a (B, T, D) tensor; a (B, D) one as it is."""
    if output.dim() == 3:
        return output[:, 0]  # (B, D)
    if output.dim() == 2:
        return output
    raise ValueError(f"cls_features: expected (B, T, D) or (B, D), got {tuple(output.shape)}")


class FeedForward(nn.Module):
    """fc1 (D -> hidden), GELU, dropout, fc2 (hidden -> D), dropout; fc1/fc2 injected."""

    def __init__(self, *, fc1: nn.Module, fc2: nn.Module, dropout: float = 0.0):
        super().__init__()
        self.fc1, self.act, self.fc2 = fc1, nn.GELU(), fc2
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens x (B, T, D) -> (B, T, D)."""
        x = self.drop(self.act(self.fc1(x)))  # (B, T, hidden)
        return self.drop(self.fc2(x))  # (B, T, D)


class Attention(nn.Module):
    """Multi-head self-attention: one qkv projection, fused scaled dot-product attention."""

    def __init__(self, *, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens x (B, T, D) -> (B, T, D), each token attending to all T."""
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, D // self.heads)  # (B, T, 3, H, D/H)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, T, D/H)
        dropout_p = self.dropout if self.training else 0.0
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)  # (B, H, T, D/H)
        x = x.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.proj_drop(self.proj(x))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + ffn(norm2(x))."""

    def __init__(
        self,
        *,
        name: str,
        dim: int,
        heads: int,
        hidden_dim: int,
        dropout: float,
        linear_factory: LinearFactory,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim=dim, heads=heads, dropout=dropout)
        self.norm2 = nn.LayerNorm(dim)
        fc1 = linear_factory(f"{name}.ffn.fc1", dim, hidden_dim)
        fc2 = linear_factory(f"{name}.ffn.fc2", hidden_dim, dim)
        for fc in (fc1, fc2):
            if not isinstance(fc, nn.Module):
                got = type(fc).__name__
                raise TypeError(f"linear_factory gave a {got} in {name}: need an nn.Module")
        self.ffn = FeedForward(fc1=fc1, fc2=fc2, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens x (B, T, D) -> (B, T, D)."""
        x = x + self.attn(self.norm1(x))  # (B, T, D)
        return x + self.ffn(self.norm2(x))  # (B, T, D)


class ViT(nn.Module):
    """Pre-norm ViT with a CLS token and learned position embeddings; returns logits (B, K).

    Initialisation is per parameter name (a generator seeded from one draw of torch's RNG and
    the name), so two variants built at the same seed start every parameter they share equal,
    whatever their factories build: matched arms.
    """

    def __init__(
        self,
        *,
        image_size: int = 28,
        patch_size: int = 7,
        channels: int = 1,
        dim: int = 64,
        depth: int = 6,
        heads: int = 4,
        mlp_ratio: int = 2,
        num_classes: int = 10,
        dropout: float = 0.0,
        linear_factory: LinearFactory | None = None,
    ):
        super().__init__()
        init_seed = int(torch.randint(0, 2**31 - 1, ()).item())  # before any module draws
        for key, value in dict(
            image_size=image_size,
            patch_size=patch_size,
            channels=channels,
            dim=dim,
            depth=depth,
            heads=heads,
            mlp_ratio=mlp_ratio,
        ).items():
            if value < 1:
                raise ValueError(f"ViT {key}={value}: must be >= 1")
        if image_size % patch_size:
            raise ValueError(
                f"ViT image_size={image_size} is not divisible by patch_size={patch_size}"
            )
        if dim % heads:
            raise ValueError(f"ViT dim={dim} is not divisible by heads={heads}")
        if num_classes < 2:
            raise ValueError(f"ViT num_classes={num_classes}: need at least 2 classes")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"ViT dropout={dropout}: must lie in [0, 1)")
        self.image_size, self.channels, self.depth = image_size, channels, depth
        linear_factory = linear_factory or default_linear
        num_patches = (image_size // patch_size) ** 2

        self.to_patch_embedding = nn.Conv2d(channels, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.zeros(1, num_patches + 1, dim))
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(
                name=f"blocks.{i}",
                dim=dim,
                heads=heads,
                hidden_dim=mlp_ratio * dim,
                dropout=dropout,
                linear_factory=linear_factory,
            )
            for i in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self._init_weights(init_seed)

    def _init_weights(self, seed: int) -> None:
        """timm's ViT init: trunc-normal std .02 for linears, the patch embedding, CLS and
        positions; zero biases; LayerNorm at (1, 0). Each tensor draws from a generator seeded
        by `seed` and its name. ETFLinear weights are buffers and are left as built."""

        def normal_(name: str, t: torch.Tensor) -> None:
            g = torch.Generator().manual_seed(seed + zlib.crc32(name.encode("utf-8")))
            t.data.copy_(
                nn.init.trunc_normal_(torch.empty_like(t, device="cpu"), std=0.02, generator=g)
            )

        normal_("cls_token", self.cls_token)
        normal_("pos_embedding", self.pos_embedding)
        for name, m in self.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                normal_(f"{name}.weight", m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, ETFLinear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images x (B, C, H, W), H = W = image_size -> logits (B, K); ValueError for another
        shape."""
        if x.dim() != 4 or x.shape[1:] != (self.channels, self.image_size, self.image_size):
            raise ValueError(
                f"ViT input {tuple(x.shape)}: expected (B, {self.channels}, {self.image_size}, "
                f"{self.image_size})"
            )
        x = self.to_patch_embedding(x).flatten(2).transpose(1, 2)  # (B, N, D)
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
        x = torch.cat([cls, x], dim=1) + self.pos_embedding  # (B, T, D), T = N + 1
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x)  # (B, T, D)
        x = self.norm(x)  # (B, T, D)
        return self.head(cls_features(x))  # (B, K)
