"""The README's commands in the order a newcomer runs them, each after the other, each exiting 0:
`make study PRESET=smoke` (the two-minute version), `python studies/eps_sweep.py --preset smoke`
and `nc-study eps_sweep --preset smoke` (the same study, found finished: its tables again),
`python analysis/make_figures.py`, then `make study` (the main job), with the real Makefile.

The main job is cut to a tiny size by the Makefile's own override (`STUDY_ARGS`: one epoch, one
eps, synthetic data); `make -o venv -o data` and `BIN=` run it with this interpreter instead of
creating .venv, and RESULTS/FIGURES keep every output in a temporary folder, which is also the
working directory of the other commands (their default `results/` and `figures/`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
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


def run(tmp: Path, *command: str) -> subprocess.CompletedProcess:
    """`command` (after this interpreter's `python`, or a console script of its venv) run in
    `tmp`, as a newcomer runs it from where the results are; it must exit 0."""
    env = {
        **os.environ,
        "RAY_TMPDIR": tempfile.mkdtemp(prefix="ncray", dir="/tmp"),
        "PYTHONPATH": str(REPO),
    }
    script = Path(sys.executable).parent / command[0]  # a console script, beside python
    console = "/" not in command[0] and script.is_file()
    argv = [str(script), *command[1:]] if console else [sys.executable, *command]
    try:
        done = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    assert done.returncode == 0, f"{' '.join(argv)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_readme_commands_in_a_newcomers_order_all_exit_0_and_share_one_smoke_study(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    pytest.importorskip("ray")  # the study runs on Ray Tune, in the subprocesses below
    try:
        load_fashion_mnist(download=False)
        data = []
    except DataError:
        data = ["--dataset", "synthetic"]  # the smoke study is MLP only: synthetic data stands in
    started = time.monotonic()
    smoke = make_study(
        tmp_path, "PRESET=smoke", *([f"STUDY_ARGS={' '.join(data)}"] if data else [])
    )
    smoke_s = time.monotonic() - started
    # quiet by default: a line per trial and the summary, no Tune status table or Ray INFO
    printed = (smoke.stdout + smoke.stderr).splitlines()
    assert len(printed) <= 45, "\n".join(printed)
    noises = ("== Status ==", "Result logdir", "Checkpoint successfully created", "INFO")
    for noise in (*noises, "WARNING", "Token authentication"):
        assert noise not in smoke.stdout + smoke.stderr, noise
    assert sum("ok after epoch" in line for line in printed) == 9  # 4 kinds x 2 eps + baseline
    results, figures = tmp_path / "results", tmp_path / "figures"
    tables = results / "eps_sweep-smoke" / "epochs.parquet"
    trained = pd.read_parquet(tables)
    fixed = trained.groupby("kind").layers_fixed.max()
    assert set(fixed.index) == {"canonical", "rotated", "orthogonal", "freeze"}
    assert (fixed > 0).all(), f"every kind fixes a layer at some smoke eps: {fixed.to_dict()}"

    # the script and the console script with the README's options: the same study, finished
    for command in (["studies/eps_sweep.py"], ["nc-study", "eps_sweep"]):
        if command[0].endswith(".py"):
            command = [str(REPO / command[0])]
        again = run(tmp_path, *command, "--preset", "smoke", *data)
        assert "holds a different study" not in again.stdout + again.stderr
        assert sum("ok after epoch" in line for line in again.stdout.splitlines()) == 0
        assert len(pd.read_parquet(tables)) == len(trained)  # nothing trained again
    drawn = run(tmp_path, str(REPO / "analysis" / "make_figures.py"))
    assert (figures / "REPORT.md").is_file() and "eps_sweep-smoke" in drawn.stdout + drawn.stderr

    main = make_study(
        tmp_path, "STUDY_ARGS=--dataset synthetic --set epochs=1 --eps 0.3 --verbose 0"
    )
    total_s = time.monotonic() - started
    for name in ("eps_sweep-smoke", "eps_sweep-quick"):  # both studies, side by side
        assert (results / name / "epochs.parquet").is_file()
        assert (results / name / "layers.parquet").is_file()
        assert (results / "ray" / name / "nc_study.json").is_file()
    assert (figures / "REPORT.md").is_file() and (figures / "eps_sweep-quick_table.md").is_file()
    assert (figures / "eps_sweep-quick_tradeoff.png").is_file()  # drawn from the main job's tables
    assert "eps0.3-rotated-s0" in main.stdout  # one line per finished trial, named from its config
    print(f"smoke {smoke_s:.0f} s, then the rest {total_s - smoke_s:.0f} s")
