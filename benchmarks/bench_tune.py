"""Trials per hour: 2 concurrent 1-CPU Tune trials against the same trials one after another.

The same small MLP trials (seeds 0..n-1) run five ways without and with Ray: a plain loop of
`train()` with 1 and with 2 torch threads; two warm plain processes at once, 1 thread each (the
machine's own ceiling for two concurrent trials); then `run_study` one trial at a time and two
at a time, each trial with 1 CPU (and 1 torch thread). Prints trials per hour, the speed-up of 2
concurrent Tune trials over 1 at a time (target >= 1.6x on 2 cores) and Ray's overhead per trial
(Tune one at a time minus the plain 1-thread loop: actor start, reports, checkpoints, export).

    python benchmarks/bench_tune.py            # ~4 min on 2 idle cores
    python benchmarks/bench_tune.py --quick    # ~1 min
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import ray
import torch

from nc_core.study.spec import StudyOptions, StudySpec
from nc_core.train.loop import train
from nc_core.train.presets import preset
from nc_core.tune.run import run_study


def plain(cfg, seeds, threads: int) -> float:
    """Seconds for a loop of train() over `seeds` with `threads` torch threads (no Ray)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    start = time.perf_counter()
    for seed in seeds:
        train(cfg.replace(seed=seed))
    torch.set_num_threads(before)
    return time.perf_counter() - start


def _train_one(cfg, seed: int) -> None:
    torch.set_num_threads(1)
    train(cfg.replace(seed=seed))


def _warm() -> None:
    torch.set_num_threads(1)


def processes(cfg, seeds) -> float:
    """Seconds for `seeds` in 2 warm worker processes at once (no Ray), 1 thread each: what
    this machine allows two concurrent trials, before any Ray overhead."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_train_one, [cfg.replace(epochs=1)] * 2, [0, 1]))  # import, warm up
        start = time.perf_counter()
        list(pool.map(_train_one, [cfg] * len(seeds), seeds))
        return time.perf_counter() - start


def tuned(cfg, seeds, concurrent: int, root: str) -> float:
    """Seconds for `run_study` over `seeds`, `concurrent` trials at a time, 1 CPU each."""
    spec = StudySpec(name=f"bench_{concurrent}", base=cfg, trials=tuple({"seed": s} for s in seeds))
    opts = StudyOptions(
        storage=f"{root}/ray",
        results=f"{root}/results",
        cpus_per_trial=1,
        gpus_per_trial=0,
        max_concurrent=concurrent,
        verbose=0,
    )
    start = time.perf_counter()
    run_study(spec, opts)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller trials (~1 min in all)")
    parser.add_argument("--trials", type=int, default=6, help="trials per way (even)")
    args = parser.parse_args(argv)
    if args.quick:
        cfg = preset("quick", epochs=2, subset=300, nc_samples=100, width=256, depth=6)
    else:
        cfg = preset("quick", epochs=2, subset=3000, nc_samples=300)
    cfg = cfg.replace(device="cpu")
    seeds = list(range(args.trials))
    print(
        f"{args.trials} trials of: MLP width {cfg.arch.width} depth {cfg.arch.depth}, {cfg.subset} "
        f"images/class, {cfg.epochs} epochs; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    train(cfg.replace(epochs=1))  # warm up: first-call costs out of every timing

    rows = {
        "plain loop, 1 thread": plain(cfg, seeds, 1),
        "plain loop, 2 threads": plain(cfg, seeds, 2),
        "2 plain processes at once": processes(cfg, seeds),
    }
    with tempfile.TemporaryDirectory(prefix="bench_tune") as root:
        start = time.perf_counter()
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=80 * 1024**2,
        )
        init_s = time.perf_counter() - start
        try:
            rows["Tune, 1 trial at a time (1 CPU)"] = tuned(cfg, seeds, 1, root)
            rows["Tune, 2 concurrent (1 CPU each)"] = tuned(cfg, seeds, 2, root)
        finally:
            ray.shutdown()

    print(f"\n{'way':34s} {'seconds':>8s} {'trials/hour':>12s}")
    for name, seconds in rows.items():
        print(f"{name:34s} {seconds:8.1f} {3600 * args.trials / seconds:12.0f}")
    concurrent = rows["Tune, 2 concurrent (1 CPU each)"]
    speedup = rows["Tune, 1 trial at a time (1 CPU)"] / concurrent
    print(
        f"\nspeed-up of 2 concurrent over 1 at a time (both Tune): {speedup:.2f}x (target >= 1.6x)"
    )
    ceiling = rows["plain loop, 1 thread"] / rows["2 plain processes at once"]
    print(f"the machine's own ceiling (2 plain processes over the 1-thread loop): {ceiling:.2f}x")
    print(
        f"speed-up of 2 concurrent over the plain 2-thread loop: "
        f"{rows['plain loop, 2 threads'] / concurrent:.2f}x"
    )
    overhead = rows["Tune, 1 trial at a time (1 CPU)"] - rows["plain loop, 1 thread"]
    print(
        f"Ray overhead per trial: {overhead / args.trials:.2f} s "
        f"(plus {init_s:.1f} s once for ray.init)"
    )


if __name__ == "__main__":
    main()
