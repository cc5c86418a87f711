"""The ViT as a registered model: its options, what is measured, and which feedforward linears
the ETF-Transformer fixes.

The ETF-Transformer of Liu 2024 (arXiv 2412.00884, sec. on transformers) fixes the feedforward
layers of chosen ViT blocks. A block spec (`parse_blocks`) and a choice of linears
(`FFN_LINEARS`) name them (`ffn_linear_names`); `build_vit` builds the plain `nc_core.models.vit
.ViT` and fixes them in place, as the run's kind, before training. Fixing after the model's own
initialisation means kind "freeze" keeps exactly the initial weights the baseline of the same
seed starts from; the ETF kinds get the frame of their shape and a per-layer seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nc_core.fixing.etf import freeze_to_etf, layer_seed
from nc_core.models.adapter import ModelAdapter
from nc_core.models.registry import BuildContext, register_model
from nc_core.models.vit import ViT, cls_features

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
        if head not in ("first", "last") or not tail.strip().isdigit() or not tail.isascii():
            raise ValueError(f"{bad}: {forms}")
        n = int(tail)
        if not 1 <= n <= depth:
            raise ValueError(f"{bad}: N={n} must lie in 1..{depth}")
        return list(range(n)) if head == "first" else list(range(depth - n, depth))
    items = [item.strip() for item in s.split(",")]
    if not all(item.isdigit() and item.isascii() for item in items):
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


@dataclass(frozen=True)
class ViTOptions:
    """The ViT's part of a run's configuration (columns vit_dim ... vit_etf_linears)."""

    dim: int = field(default=64, metadata={"help": "ViT token width", "min": 1})
    depth: int = field(default=6, metadata={"help": "ViT transformer blocks", "min": 1})
    heads: int = field(
        default=4, metadata={"help": "ViT attention heads (must divide dim)", "min": 1}
    )
    patch: int = field(
        default=7, metadata={"help": "ViT patch size (must divide the image size)", "min": 1}
    )
    mlp_ratio: int = field(
        default=2, metadata={"help": "ViT feedforward hidden = ratio * dim", "min": 1}
    )
    dropout: float = field(default=0.0, metadata={"help": "ViT dropout probability", "min": 0.0})
    etf_blocks: str = field(
        default="none",
        metadata={
            "help": "ETF-Transformer: blocks whose feedforward is fixed from the start: none, "
            "all, last:N, first:N or a comma list of indices"
        },
    )
    etf_linears: Literal[FFN_LINEARS] = field(
        default="both", metadata={"help": "ETF-Transformer: feedforward linears to fix"}
    )

    def check(self, ctx: BuildContext) -> None:
        """Square images whose side the patch divides, heads dividing dim, a valid block spec."""
        if len(ctx.input_shape) != 3 or ctx.input_shape[1] != ctx.input_shape[2]:
            raise ValueError(
                f"RunConfig.model='vit': needs square images (C, H, H), the dataset gives "
                f"samples of shape {ctx.input_shape}"
            )
        side = ctx.input_shape[1]
        if side % self.patch:
            raise ValueError(f"RunConfig.vit_patch={self.patch}: must divide the image size {side}")
        if self.dim % self.heads:
            raise ValueError(
                f"RunConfig.vit_dim={self.dim}: must be divisible by vit_heads={self.heads}"
            )
        if not self.dropout < 1.0:
            raise ValueError(f"RunConfig.vit_dropout={self.dropout}: must lie in [0, 1)")
        try:
            parse_blocks(self.etf_blocks, self.depth)
        except ValueError as err:
            raise ValueError(f"RunConfig.vit_{err}") from None

    def fixed_linears(self) -> list[str]:
        """The feedforward linears fixed from the start."""
        return ffn_linear_names(parse_blocks(self.etf_blocks, self.depth), self.etf_linears)


def vit_adapter(model: ViT, opts: ViTOptions | None = None) -> ModelAdapter:
    """ViT: each block's CLS token and the logits; fixing a block replaces its feedforward
    linears `etf_linears` (fc1, fc2 or both). Adaptive-ETF fixes blocks only (the ETF-Transformer
    fixes feedforward layers); no measured layer reads pixels (the patch embedding is never
    fixed)."""
    etf_linears = opts.etf_linears if opts is not None else "both"
    blocks = [f"blocks.{i}" for i in range(len(model.blocks))]
    linears = {b: tuple(ffn_linear_names([i], etf_linears)) for i, b in enumerate(blocks)}
    return ModelAdapter(
        layers=(*blocks, "head"),
        penultimate="norm",
        reduce=cls_features,
        linears={**linears, "head": ("head",)},
        activations={b: f"{b}.ffn.act" for b in blocks},
        adaptive=tuple(blocks),
        input_layer=None,
    )


@register_model(
    "vit",
    options=ViTOptions,
    adapter=vit_adapter,
    presets={"smoke": {"dim": 32, "depth": 2, "heads": 2}},
)
def build_vit(opts: ViTOptions, ctx: BuildContext) -> ViT:
    """A small pre-norm ViT; the ETF-Transformer's feedforward linears fixed as `ctx.kind`."""
    channels, side, _ = ctx.input_shape
    model = ViT(
        image_size=side,
        patch_size=opts.patch,
        channels=channels,
        dim=opts.dim,
        depth=opts.depth,
        heads=opts.heads,
        mlp_ratio=opts.mlp_ratio,
        num_classes=ctx.num_classes,
        dropout=opts.dropout,
    )
    for name in opts.fixed_linears():
        freeze_to_etf(model, name, kind=ctx.kind, seed=layer_seed(name, ctx.seed))
    return model
