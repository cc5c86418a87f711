"""Many trials per device: N concurrent single-run processes, trials per hour and memory per trial.

What Ray's fractional `--gpus-per-trial` does on a cluster, measured without Ray: for each N,
N processes each train one run (`nc_core.train.train`, seeds 0..N-1) at the same time on one
device. Per N it prints:
- wall: seconds from launching the N processes to the last one finishing, and the trials per
  hour of runs this long (startup and compilation included);
- steady: each trial's epoch time after its first epoch (training, NC evaluation, bookkeeping),
  and from it the trials per hour of `--project-epochs`-epoch runs (300: the paper), the figure
  that packing is for; `x1` is each against N=1 (target: >= 3x at N >= 4);
- memory per trial: peak GPU memory (`torch.cuda.max_memory_allocated` in each process) and the
  peak RSS, the largest over the N processes.
On the CPU each process gets cores // N threads (as Ray gives each trial its CPUs).

Usage: python benchmarks/bench_pack.py [--device cuda] [--ns 1 2 4 8] [--preset paper]
       [--epochs 3] [--compile] [--precision bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def worker(spec: dict) -> None:
    """One trial in this process; prints one JSON line: epoch end times and peak memory."""
    import torch

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    from nc_core.train.loop import train
    from nc_core.train.presets import preset

    cfg = preset(spec["preset"], **spec["overrides"])
    ends = [time.perf_counter()]
    result = train(cfg, on_epoch=lambda record, state: ends.append(time.perf_counter()))
    cuda = cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
    print(
        json.dumps(
            {
                "epoch_ends": ends,
                "status": result.status,
                "gpu_peak": torch.cuda.max_memory_allocated() if cuda else 0,
                "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "test_acc": result.records[-1].test_acc,
            }
        )
    )


def pack(n: int, args) -> dict:
    """Run `n` trials at once; their JSON reports and the wall time."""
    threads = max(1, (os.cpu_count() or 1) // n) if args.device == "cpu" else 0
    procs = []
    start = time.perf_counter()
    for seed in range(n):
        overrides = dict(
            device=args.device,
            epochs=args.epochs,
            seed=seed,
            compile=args.compile,
            precision=args.precision,
        )
        if args.dataset:
            overrides["dataset"] = args.dataset
        spec = {"preset": args.preset, "overrides": overrides, "threads": threads}
        cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    reports = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"bench_pack: a trial of N={n} failed with status {proc.returncode}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return {"wall": time.perf_counter() - start, "reports": reports}


def steady_epoch(report: dict) -> float:
    """Median seconds per epoch after the first (compilation and warm-up are in the first)."""
    ends = report["epoch_ends"]
    gaps = sorted(b - a for a, b in zip(ends[1:-1], ends[2:], strict=True))
    return gaps[len(gaps) // 2] if gaps else ends[-1] - ends[0]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--device", default="cuda")
    p.add_argument("--ns", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--preset", default="paper")
    p.add_argument("--dataset", default=None, help="override the preset's dataset")
    p.add_argument("--epochs", type=int, default=3, help="epochs per trial (>= 2)")
    p.add_argument("--compile", action="store_true", help="RunConfig.compile in every trial")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--project-epochs", type=int, default=300, help="run length to project to")
    args = p.parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))
    if args.epochs < 2:
        p.error("--epochs must be >= 2: the first epoch holds the warm-up")
    print(
        f"{args.preset} preset, {args.epochs} epochs per trial, device {args.device}, "
        f"{args.precision}{', compiled' if args.compile else ''}; {os.cpu_count()} CPU cores"
    )
    print(
        f"{'N':>2} {'wall s':>7} {'trials/h':>9} {'x1':>5} | {'epoch s':>8} "
        f"{f'{args.project_epochs}-ep trials/h':>18} {'x1':>5} | {'GPU MiB':>8} {'RSS MiB':>8}"
    )
    base_wall = base_steady = None
    for n in args.ns:
        r = pack(n, args)
        per_hour = n * 3600 / r["wall"]
        epochs = [steady_epoch(rep) for rep in r["reports"]]
        projected = sum(3600 / (e * args.project_epochs) for e in epochs)
        base_wall = base_wall or per_hour
        base_steady = base_steady or projected
        gpu = max(rep["gpu_peak"] for rep in r["reports"]) / 2**20
        rss = max(rep["rss_peak"] for rep in r["reports"]) / 2**20
        print(
            f"{n:2d} {r['wall']:7.1f} {per_hour:9.1f} {per_hour / base_wall:5.2f} | "
            f"{sorted(epochs)[n // 2]:8.3f} {projected:18.2f} {projected / base_steady:5.2f} | "
            f"{gpu:8.0f} {rss:8.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
