"""The README's quick start in the order a newcomer runs it: `make study PRESET=smoke` (the
two-minute version), then `make study` (the main job), each with the real Makefile target.

The main job is cut to a tiny size by the Makefile's own override (`STUDY_ARGS`: one epoch, one
eps, synthetic data); `make -o venv -o data` and `BIN=` run it with this interpreter instead of
creating .venv, and RESULTS/FIGURES keep every output in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nc_core.data.fashion_mnist import DataError, load_fashion_mnist

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def make_study(tmp: Path, *variables: str) -> subprocess.CompletedProcess:
    """`make study VARIABLES`, in the repository, with outputs under `tmp` (what it printed is
    returned; a failure shows it)."""
    command = [
        "make",
        "-o",
        "venv",
        "-o",
        "data",
        f"BIN={Path(sys.executable).parent}",
        f"RESULTS={tmp / 'results'}",
        f"FIGURES={tmp / 'figures'}",
        "study",
        *variables,
    ]
    env = {**os.environ, "RAY_TMPDIR": tempfile.mkdtemp(prefix="ncray", dir="/tmp")}
    try:
        done = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600
        )
    finally:
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    assert done.returncode == 0, (
        f"{' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def test_readme_quick_start_smoke_then_main_job_keeps_both_and_draws_figures(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    try:
        load_fashion_mnist(download=False)
        data = ""
    except DataError:
        data = "--dataset synthetic "  # the smoke study is MLP only: synthetic data stands in
    started = time.monotonic()
    smoke = make_study(tmp_path, "PRESET=smoke", *([f"STUDY_ARGS={data}"] if data else []))
    smoke_s = time.monotonic() - started
    # quiet by default: a line per trial and the summary, no Tune status table or Ray INFO
    printed = (smoke.stdout + smoke.stderr).splitlines()
    assert len(printed) <= 45, "\n".join(printed)
    for noise in ("== Status ==", "Result logdir", "Checkpoint successfully created", "INFO"):
        assert noise not in smoke.stdout + smoke.stderr, noise
    assert sum("ok after epoch" in line for line in printed) == 9
    main = make_study(
        tmp_path, "STUDY_ARGS=--dataset synthetic --set epochs=1 --eps 0.3 --verbose 0"
    )
    total_s = time.monotonic() - started

    results, figures = tmp_path / "results", tmp_path / "figures"
    for name in ("eps_sweep-smoke", "eps_sweep-quick"):  # both studies, side by side
        assert (results / name / "epochs.parquet").is_file()
        assert (results / name / "layers.parquet").is_file()
        assert (results / "ray" / name / "nc_study.json").is_file()
    assert (figures / "REPORT.md").is_file() and (figures / "eps_sweep-quick_table.md").is_file()
    assert (figures / "eps_sweep-quick_tradeoff.png").is_file()  # drawn from the main job's tables
    assert "eps0.3-rotated-s0" in main.stdout  # one line per finished trial, named from its config
    print(f"smoke {smoke_s:.0f} s, then the tiny main job {total_s - smoke_s:.0f} s")
