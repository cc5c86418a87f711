"""Presets: the paper's setting and smaller versions of it, each a partial `RunConfig`.

`preset(name, **overrides)` is the one way to turn a name into a validated config; the command
line's `--preset` and every study start from one.
"""

from __future__ import annotations

from nc_core.train.config import RunConfig

# `paper` is the author's MLP recipe (depth 8, width 400, BN, 300 epochs, SGD 0.01 / 0.9 / 5e-4,
# batch 128).
PRESETS: dict[str, dict] = {
    "paper": dict(model="mlp", width=400, depth=8, batch_norm=True, epochs=300, nc_samples=1000),
    "quick": dict(model="mlp", width=400, depth=8, batch_norm=True, epochs=30),
    "smoke": dict(
        model="mlp",
        width=64,
        depth=4,
        epochs=3,
        subset=100,
        nc_samples=50,
        batch_size=64,
        patience=1,
    ),
    "vit-paper": dict(
        model="vit",
        epochs=200,
        optimizer="adamw",
        lr=1e-3,
        weight_decay=0.05,
        schedule="cosine",
        warmup_epochs=5,
        nc_samples=1000,
    ),
    "vit-quick": dict(
        model="vit",
        epochs=15,
        subset=1000,
        optimizer="adamw",
        lr=2e-3,
        weight_decay=0.05,
        schedule="cosine",
        warmup_epochs=2,
        nc_samples=300,
        batch_size=128,
    ),
    "vit-smoke": dict(
        model="vit",
        epochs=2,
        subset=30,
        vit_dim=32,
        vit_depth=2,
        vit_heads=2,
        optimizer="adamw",
        lr=1e-3,
        weight_decay=0.05,
        nc_samples=20,
        batch_size=50,
    ),
}


def preset(name: str, **overrides) -> RunConfig:
    """The named preset with `overrides` applied, validated."""
    if name not in PRESETS:
        raise ValueError(f"preset {name!r}: expected one of {tuple(PRESETS)}")
    return RunConfig(**{**PRESETS[name], **overrides}).validate()
