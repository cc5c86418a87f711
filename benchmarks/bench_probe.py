"""Extra seconds the per-layer linear probes add to one NC evaluation.

`nc_core.measure.evaluate.evaluate` fits one ridge probe per measured layer from the class
statistics it streams (one (D, D) solve each) and counts its predictions in the two NCC passes it
already makes. This times `evaluate` of an untrained network at the smoke preset and at the
quick preset's NC sample (500 images per class of Fashion-MNIST, the full test set), in one
process, interleaved with the same `evaluate` from which the probe work is removed (no solve, no
predictions), one torch thread, and prints the minimum of each and the difference. Times are the
process's CPU seconds (`time.process_time`), which other jobs on a shared machine move far less
than wall time.

    python benchmarks/bench_probe.py              # smoke and quick, 9 repeats
    python benchmarks/bench_probe.py --quick      # smoke only, 3 repeats
"""

from __future__ import annotations

import argparse
import contextlib
import time
from unittest import mock

import torch

from nc_core.data.split import stratified_subset
from nc_core.measure import evaluate as evaluation
from nc_core.train.build import build_adapter, build_model, load_data
from nc_core.train.presets import preset


def without_probes() -> contextlib.ExitStack:
    """`evaluate` as it is without the probes: no solve, and NCC passes that count no probe."""
    ncc_pass = evaluation.ncc_pass

    def plain_pass(*args, probes=None, **kwargs):  # noqa: ARG001 (the probes are dropped)
        return ncc_pass(*args, **kwargs)

    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(evaluation, "ncc_pass", plain_pass))
    stack.enter_context(mock.patch.object(evaluation.metrics, "ridge_probe", lambda *a, **k: None))
    return stack


def bench(name: str, repeats: int) -> str:
    cfg = preset(name, dataset="fashion_mnist")
    train, test = load_data(cfg)
    if cfg.subset is not None:
        train = stratified_subset(train, cfg.subset)
    smallest = int(torch.bincount(train.y).min())
    small = cfg.nc_samples is not None and cfg.nc_samples < smallest
    nc = stratified_subset(train, cfg.nc_samples) if small else train
    model = build_model(cfg, input_shape=tuple(train.x.shape[1:]))
    adapter = build_adapter(cfg, model)

    def run() -> float:
        start = time.process_time()
        evaluation.evaluate(
            model, adapter, nc, test, num_classes=cfg.K, autocast=contextlib.nullcontext
        )
        return time.process_time() - start

    with_probe, plain = [], []
    for _ in range(repeats):  # interleaved, so load drift hits both alike
        with without_probes():
            plain.append(run())
        with_probe.append(run())
    a, b = min(plain), min(with_probe)
    return (
        f"{name}: NC sample {len(nc)}, test {len(test)}, {len(adapter.layers)} layers: "
        f"without probes {a:.3f} s, with {b:.3f} s (CPU, min of {repeats}): "
        f"{b - a:+.3f} s ({100 * (b - a) / a:+.1f}%)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke preset only, 3 repeats")
    args = p.parse_args()
    torch.set_num_threads(1)
    for name in ("smoke",) if args.quick else ("smoke", "quick"):
        print(bench(name, 3 if args.quick else 9))


if __name__ == "__main__":
    main()
