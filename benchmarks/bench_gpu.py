"""Epoch time with its NC evaluation, eager against compiled, fp32 against bf16, beside the floor.

For the paper MLP (preset `paper`) and the vit-paper ViT on one device: seconds of one training
epoch (60,000 images) plus its NC evaluation (the NC sample twice, the test set once), measured
side by side in one run. Beside each, the floor: the epoch's FLOPs (counted by
`torch.utils.flop_counter` on the same work) divided by the matmul rate measured on this device
in the same precision, and `ratio` = time / floor (1.0: nothing but dense matmuls at full rate).
Target: the paper MLP's epoch, evaluation included, <= 0.5 s on an H100-class GPU.

`--quick` times a slice (`--per-class` train images per class, as many for the NC sample and the
test set): the training pass is scaled to 60,000 images by its share of them; the evaluation is
timed on the slice and on half of it and extrapolated along that line to the full NC sample and
test set; FLOPs are scaled by the same shares. `first s` (the warm-up epoch and evaluation,
compilation included) is as measured. bf16 rows need CUDA (bf16 autocast is
CUDA only). Imports no Ray: it runs where only torch is installed.

Usage: python benchmarks/bench_gpu.py [--device cuda|cpu] [--quick] [--models mlp vit]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from nc_core.data.fashion_mnist import load_fashion_mnist
from nc_core.data.split import Split, stratified_subset
from nc_core.measure.evaluate import evaluate
from nc_core.train.loop import _Run
from nc_core.train.presets import preset

PRESETS = {"mlp": "paper", "vit": "vit-paper"}
TRAIN_N, TEST_N = 60000, 10000


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int) -> float:
    """FLOP/s of an n x n matmul in `dtype` (the best of several)."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    best = float("inf")
    for _ in range(8):
        sync(device)
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - start) / 4)
    return 2 * n**3 / best


def train_flops_per_sample(run: _Run) -> float:
    """FLOPs of one training step (forward, loss, backward) per sample, counted on a batch."""
    x, y = run.train.x[: run.cfg.batch_size], run.train.y[: run.cfg.batch_size]
    with FlopCounterMode(display=False) as counter, run.autocast():
        F.cross_entropy(run.model(x), y).backward()
    run.opt.zero_grad(set_to_none=True)
    return counter.get_total_flops() / y.shape[0]


def nc_evaluation(run: _Run, nc: Split | None = None, test: Split | None = None) -> float:
    """Seconds of one NC evaluation (of the run's NC sample and test set unless given)."""
    start = time.perf_counter()
    evaluate(  # ends with .item() calls: synchronised
        run.model,
        run.adapter,
        run.nc if nc is None else nc,
        run.test if test is None else test,
        num_classes=run.cfg.K,
        autocast=run.autocast,
    )
    return time.perf_counter() - start


def eval_seconds(run: _Run, full_passes: int, *, quick: bool) -> float:
    """One evaluation's seconds at `full_passes` samples (the NC sample twice, the test set
    once). Quick: timed on the slice and on half of it, then a line through the two points
    extrapolated, so the fixed costs (eigendecompositions per layer) are not scaled up."""
    passes = 2 * len(run.nc) + len(run.test)
    if not quick:
        return nc_evaluation(run)
    half_nc, half_test = (
        stratified_subset(s, len(s) // (2 * run.cfg.K)) for s in (run.nc, run.test)
    )
    t_half = nc_evaluation(run, half_nc, half_test)
    t_full = nc_evaluation(run, None, None)
    half_passes = 2 * len(half_nc) + len(half_test)
    slope = (t_full - t_half) / (passes - half_passes)
    return t_full + max(slope, 0.0) * (full_passes - passes)


def measure(cfg, data, rates, *, repeats: int, quick: bool) -> dict:
    """Times (the least of `repeats` after one warm-up epoch: other load only adds time) and FLOPs
    of one configuration,
    scaled to a full epoch and a full evaluation."""
    run = _Run(cfg, data, None)
    first = time.perf_counter()
    run.train_epoch()  # warm-up: compilation, CUDA-graph recording, allocator
    nc_evaluation(run)
    sync(run.device)
    first = time.perf_counter() - first
    full_passes = 2 * 10 * cfg.nc_samples + TEST_N  # samples one full evaluation passes
    train_s, eval_s = [], []
    for _ in range(repeats):
        run.epoch += 1
        train_s.append(run.train_epoch()[2])  # ends with the epoch's one synchronisation
        eval_s.append(eval_seconds(run, full_passes, quick=quick))
    with FlopCounterMode(display=False) as counter:
        nc_evaluation(run)
    eval_flops = counter.get_total_flops() * full_passes / (2 * len(run.nc) + len(run.test))
    train_flops = train_flops_per_sample(run) * TRAIN_N
    rate = rates[cfg.precision]
    return {
        "train_s": min(train_s) * TRAIN_N / len(run.train),
        "eval_s": min(eval_s),
        "floor_s": (train_flops + eval_flops) / rate,
        "gflop": (train_flops + eval_flops) / 1e9,
        "first_s": first,
        "captures": run.train_step.captures,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quick", action="store_true", help="time a slice of the epoch (CPU, CI)")
    p.add_argument("--per-class", type=int, default=64, help="--quick: images per class")
    p.add_argument("--models", nargs="+", default=["mlp", "vit"], choices=sorted(PRESETS))
    p.add_argument("--repeats", type=int, default=None, help="timed epochs (default 3)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA device")
    repeats = args.repeats or 3
    precisions = ["fp32", "bf16"] if device.type == "cuda" else ["fp32"]
    n = 8192 if device.type == "cuda" else 1024
    rates = {"fp32": matmul_rate(device, torch.float32, n)}
    if "bf16" in precisions:
        rates["bf16"] = matmul_rate(device, torch.bfloat16, n)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"{name}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
        + ", ".join(f"matmul {k} {v / 1e12:.3g} TFLOP/s" for k, v in rates.items())
        + (" (bf16 rows: CUDA only)" if device.type != "cuda" else "")
    )
    train, test = load_fashion_mnist()
    if args.quick:
        train, test = (stratified_subset(s, args.per_class) for s in (train, test))
        print(
            f"quick: {len(train)} train and {len(test)} test images, times and FLOPs scaled "
            f"to a full epoch ({TRAIN_N} train) and evaluation"
        )
    print(
        f"{'model':5} {'step':8} {'prec':4} {'train s':>8} {'eval s':>7} {'epoch s':>8} "
        f"{'GFLOP':>7} {'floor s':>8} {'ratio':>6} {'first s':>8} captures"
    )
    for model in args.models:
        # quick: the NC sample (nc_samples per class) is then the whole train slice
        overrides = dict(device=args.device, epochs=3)
        for precision in precisions:
            for compile_ in (False, True):
                cfg = preset(PRESETS[model], precision=precision, compile=compile_, **overrides)
                r = measure(cfg, (train, test), rates, repeats=repeats, quick=args.quick)
                epoch_s = r["train_s"] + r["eval_s"]
                print(
                    f"{model:5} {'compiled' if compile_ else 'eager':8} {precision:4} "
                    f"{r['train_s']:8.3f} {r['eval_s']:7.3f} {epoch_s:8.3f} {r['gflop']:7.1f} "
                    f"{r['floor_s']:8.4f} {epoch_s / r['floor_s']:6.1f} {r['first_s']:8.1f} "
                    f"{r['captures']:8d}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
