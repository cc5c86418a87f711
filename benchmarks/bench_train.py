"""Training-loop speed, measured side by side in one run (depth 8, width 400, batch 128).

1. Samples/s of our epoch (in-memory split, seeded-permutation batches) against a plain
   torchvision `FashionMNIST` + `DataLoader(batch_size=128, shuffle=True)` + `ToTensor` loop
   on the same model and optimizer. Target: ours >= 2.5x.
2. One full NC evaluation (train NC sample and test set, every layer) as a share of one training
   epoch. Target: <= 25%.
3. Step time with the last half of the hidden layers fixed against none fixed. Target: <= 0.9x
   (a fixed layer computes no weight gradient and has no optimizer update).

Usage: python benchmarks/bench_train.py [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from nc_core.data.fashion_mnist import DEBIAN_DIR
from nc_core.fixing.etf import freeze_to_etf
from nc_core.measure.evaluate import evaluate
from nc_core.train.build import build_optimizer
from nc_core.train.loop import _Run
from nc_core.train.presets import preset


def torchvision_loop_rate(run: _Run, max_batches: int) -> float:
    """Samples/s of the conventional loop: per-sample ToTensor, DataLoader collation."""
    from torchvision import datasets, transforms

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for name in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ):
            with gzip.open(Path(DEBIAN_DIR) / f"{name}.gz") as src, open(raw / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
        ds = datasets.FashionMNIST(tmp, train=True, download=False, transform=transforms.ToTensor())
        loader = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=True)
        model, opt = run.model, run.opt
        model.train()
        seen, start = 0, time.perf_counter()
        for i, (x, y) in enumerate(loader):
            if i == max_batches:
                break
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += y.shape[0]
        return seen / (time.perf_counter() - start)


def step_time(run: _Run, steps: int) -> float:
    """Median seconds of one training step on a fixed batch."""
    x, y = run.train.x[:128], run.train.y[:128]
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = F.cross_entropy(run.model(x), y)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a subset and fewer steps (CI smoke)")
    args = p.parse_args(argv)
    cfg = preset("quick", epochs=1, device="cpu", **({"subset": 500} if args.quick else {}))
    run = _Run(cfg, None, None)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{len(run.train)} train samples, NC sample {len(run.nc)}, test {len(run.test)}"
    )

    run.train_epoch()  # warm-up: first-touch allocations and kernel selection
    run.epoch += 1
    _, _, seconds = run.train_epoch()  # steady state, as every epoch after the first
    ours = len(run.train) / seconds
    theirs = torchvision_loop_rate(run, 40 if args.quick else 200)
    print(
        f"1. ours {ours:,.0f} samples/s vs torchvision DataLoader {theirs:,.0f} samples/s: "
        f"{ours / theirs:.2f}x (target >= 2.5x)"
    )

    start = time.perf_counter()
    evaluate(run.model, run.adapter, run.nc, run.test, num_classes=10, autocast=run.autocast)
    eval_s = time.perf_counter() - start
    full_epoch = 60000 / ours
    print(
        f"2. NC evaluation {eval_s:.2f}s vs a full 60000-sample epoch {full_epoch:.2f}s: "
        f"{eval_s / full_epoch:.0%} (target <= 25%)"
    )

    steps = 20 if args.quick else 100
    step_time(run, 5)
    none_fixed = step_time(run, steps)
    hidden = [f"fc{i}" for i in range(1, cfg.arch.depth)]
    for name in hidden[len(hidden) // 2 :]:
        freeze_to_etf(run.model, name, kind="rotated")
    run.opt = build_optimizer(cfg, run.model)
    step_time(run, 5)
    half_fixed = step_time(run, steps)
    print(
        f"3. step {half_fixed * 1e3:.2f} ms with {hidden[len(hidden) // 2 :]} fixed vs "
        f"{none_fixed * 1e3:.2f} ms none fixed: {half_fixed / none_fixed:.2f}x (target <= 0.9x)"
    )


if __name__ == "__main__":
    main()
