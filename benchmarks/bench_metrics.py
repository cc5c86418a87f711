"""Cost of one ClassStats.update with covariance against the one matmul it cannot avoid.

An update on a (B, D) batch has to form the centred scatter Xc^T Xc, a (D x B) @ (B x D)
product; everything else (bincount, per-class sums, centring, the K-rank mean-shift correction)
is O(B D + K D^2). The ratio update / matmul says how close the update is to that floor.
Target: <= 2.5 for B = 4096, D = 1024, K = 10 in float64, and for float32 inputs accumulated in
float64.

    python benchmarks/bench_metrics.py            # full run
    python benchmarks/bench_metrics.py --quick    # CI smoke size: fewer repeats
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from nc_core.measure.class_stats import ClassStats


def median_seconds(fns: list[Callable[[], object]], *, repeats: int, warmup: int) -> list[float]:
    """Median wall time of each of `fns`, run interleaved so load drift hits all alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [statistics.median(ts) for ts in times]


def bench(B: int, D: int, K: int, input_dtype: torch.dtype, *, repeats: int, warmup: int) -> float:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(B, D, generator=gen, dtype=torch.float64).to(input_dtype)  # (B, D)
    y = torch.randint(0, K, (B,), generator=gen)  # (B,)
    X64 = X.double()
    stats = ClassStats(K, D)
    t_update, t_matmul = median_seconds(
        [lambda: stats.update(X, y), lambda: X64.T @ X64],  # the matmul: (D, D)
        repeats=repeats,
        warmup=warmup,
    )
    ratio = t_update / t_matmul
    name = str(input_dtype).removeprefix("torch.")
    print(
        f"{name:>8} in, float64 acc | update {t_update * 1e3:8.2f} ms | "
        f"matmul ({D}x{B})@({B}x{D}) f64 {t_matmul * 1e3:8.2f} ms | ratio {ratio:5.2f}"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats (CI smoke run)")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    repeats, warmup = (5, 1) if args.quick else (15, 3)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"B={args.batch} D={args.dim} K={args.classes}, median of {repeats}"
    )
    ratios = [
        bench(args.batch, args.dim, args.classes, dtype, repeats=repeats, warmup=warmup)
        for dtype in (torch.float64, torch.float32)
    ]
    print(f"max ratio {max(ratios):.2f} (target <= 2.5)")


if __name__ == "__main__":
    main()
