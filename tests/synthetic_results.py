"""A small synthetic results set built with nc_core.results.records, for the analysis tests.

It has the three studies (eps_sweep with a baseline and Adaptive-ETF of every kind over seeds
and one diverged trial, depth_width with StaticETF, vit_blocks with ETF-Transformer), so every
table and figure has something to draw. `make_results(root)` writes it under `root`.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from nc_core.results.atomic import write_parquet_atomic
from nc_core.results.records import EpochRecord, LayerRecord, to_frames
from nc_core.train.config import RunConfig

EPOCHS = 8


def layer_names(cfg: RunConfig) -> list[str]:
    if cfg.model == "vit":
        return [f"blocks.{i}" for i in range(cfg.arch.depth)] + ["head"]
    return [f"fc{i}" for i in range(1, cfg.arch.depth)] + ["classifier"]


def fake_run(
    cfg: RunConfig, *, diverge: bool = False, static_from: int | None = None, fixed_vit: int = 0
) -> list[EpochRecord]:
    """Plausible records: deeper layers collapse sooner; Adaptive-ETF fixes a layer (deepest
    first, patience 1) once its train NCC error is <= eps; each fixed layer drops its params."""
    rng = np.random.default_rng(zlib.crc32(repr(cfg).encode()))
    names = layer_names(cfg)
    L = len(names)
    per_layer = (
        (cfg.arch.dim**2 * 2 * cfg.arch.mlp_ratio) if cfg.model == "vit" else cfg.arch.width**2
    )
    total = per_layer * L + 5000
    fixed: dict[str, int] = {}
    if static_from is not None:
        fixed = {n: 0 for n in names[static_from:]}
    fixed.update({n: 0 for n in names[:fixed_vit]})
    records = []
    kind_gap = {"canonical": 0.0, "rotated": 0.004, "orthogonal": 0.002, "freeze": 0.012}[cfg.kind]
    for epoch in range(1, EPOCHS + 1):
        layers = {}
        for i, name in enumerate(names):
            err = 0.6 * math.exp(-epoch * (i + 1) / (0.8 * L)) + 0.02 * rng.random()
            layers[name] = LayerRecord(
                index=i,
                train_ncc_acc=1 - err,
                test_ncc_acc=1 - err - 0.05 - 0.02 * rng.random(),
                nc1=err,
                nc2_equinorm=0.1,
                nc2_equiangle=0.1,
                etf_distance=err,
                nc3=0.2 if i == L - 1 else math.nan,
                nc4=0.01 if i == L - 1 else math.nan,
                fixed_as=cfg.kind if name in fixed else "",
                fixed_epoch=fixed.get(name, -1),
            )
        if cfg.policy == "adaptive":  # deepest first, contiguous from the classifier
            for i in reversed(range(L)):
                name = names[i]
                if name in fixed:
                    continue
                if 1 - layers[name].train_ncc_acc > cfg.eps:
                    break
                fixed[name] = epoch
                layers[name].fixed_as, layers[name].fixed_epoch = cfg.kind, epoch
        n_fixed = len(fixed)
        train = min(0.99, 0.70 + 0.035 * epoch - 0.3 * kind_gap * n_fixed + 0.01 * rng.random())
        test = train - 0.08 - 0.01 * rng.random()
        if diverge and epoch >= EPOCHS - 2:
            train = test = math.nan
        records.append(
            EpochRecord(
                epoch=epoch,
                train_loss=1 - train,
                train_acc=train,
                test_loss=1 - test,
                test_acc=test,
                epoch_lr=cfg.lr,
                trainable_params=total - per_layer * n_fixed,
                total_params=total,
                optimizer_state_bytes=8 * (total - per_layer * n_fixed),
                epoch_seconds=1.0,
                eval_seconds=0.1,
                fixed_layers=list(fixed),
                layers=layers,
            )
        )
    return records


def write_study(root: Path, study: str, runs: list[tuple[RunConfig, dict]]) -> None:
    frames = []
    for n, (cfg, kw) in enumerate(runs):
        status = "diverged" if kw.get("diverge") else "ok"
        frames.append(
            to_frames(
                fake_run(cfg, **kw), cfg, study=study, trial_id=f"{study}_{n:03d}", status=status
            )
        )
    write_parquet_atomic(pd.concat([f[0] for f in frames]), root / study / "epochs.parquet")
    write_parquet_atomic(pd.concat([f[1] for f in frames]), root / study / "layers.parquet")


def make_results(root: Path, studies=("eps_sweep", "depth_width", "vit_blocks")) -> Path:
    base = RunConfig.of(model="mlp", width=64, depth=6, epochs=EPOCHS, subset=100, seed=0)
    if "eps_sweep" in studies:
        runs = [(base.replace(seed=s), {}) for s in range(3)]
        runs += [
            (
                base.replace(policy="adaptive", eps=eps, kind=kind, seed=s),
                {"diverge": (eps, kind, s) == (0.05, "rotated", 2)},
            )
            for eps in (0.05, 0.1)
            for kind in ("canonical", "rotated", "freeze")
            for s in range(3)
        ]
        write_study(root, "eps_sweep", runs)
    if "depth_width" in studies:
        runs = []
        for width in (32, 64):
            cfg = base.replace(width=width, eps=0.1)
            runs += [(cfg.replace(seed=s), {}) for s in range(2)]
            runs += [
                (cfg.replace(policy="static", fix_from=f, kind=k, seed=s), {"static_from": f})
                for f in (2, 4)
                for k in ("canonical", "freeze")
                for s in range(2)
            ]
        write_study(root, "depth_width", runs)
    if "vit_blocks" in studies:
        vit = RunConfig.of(
            model="vit", vit_depth=4, vit_dim=32, vit_heads=2, epochs=EPOCHS, subset=30, seed=0
        )
        runs = [(vit.replace(seed=s), {}) for s in range(2)]
        runs += [
            (
                vit.replace(etf_blocks=b, etf_linears=lin, seed=s),
                {"fixed_vit": 4 if b == "all" else 2},
            )
            for b in ("all", "first:2")
            for lin in ("fc1", "both")
            for s in range(2)
        ]
        write_study(root, "vit_blocks", runs)
    return root
