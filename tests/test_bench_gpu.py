"""benchmarks/bench_gpu.py in its CPU smoke mode: every row it prints is measured, so the script a
GPU machine runs first has run here end to end (eager and compiled steps, the NC evaluation)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nc_core.data.fashion_mnist import DataError, load_fashion_mnist

REPO = Path(__file__).resolve().parents[1]


def test_bench_gpu_quick_on_the_cpu_prints_a_measured_row_per_step():
    try:
        load_fashion_mnist(download=False)
    except DataError:
        pytest.skip("Fashion-MNIST is not on this machine (make data)")
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_gpu.py", "--device", "cpu", "--quick", "--models", "mlp",
         "--per-class", "8", "--repeats", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("mlp ")]
    assert [r[1:3] for r in rows] == [["eager", "fp32"], ["compiled", "fp32"]], done.stdout
    for r in rows:
        train_s, eval_s, epoch_s, gflop, floor_s = map(float, r[3:8])
        assert train_s > 0 and eval_s > 0 and gflop > 0 and floor_s > 0
        assert epoch_s == pytest.approx(train_s + eval_s, abs=2e-3)
