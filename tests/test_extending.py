"""docs/extending.md's worked examples, run from outside the package as a user would: a model
(`tiny_mlp`), a dataset (`blobs`) and a study (`lr_sweep`), each one file in a temporary folder,
found through NC_PLUGINS or by running the study file; every command line reaches them, a smoke
study runs on them and its figures are drawn from what the study stored. The guide's code
blocks are these files, word for word."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "docs" / "examples"
FILES = ("tiny_mlp.py", "blobs.py", "lr_sweep.py")


def write_blobs(folder: Path, per_class: int = 100, seed: int = 0) -> None:
    """blobs.npz as the example dataset reads it: 3 Gaussian classes in 8 dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 8)) * 4

    def draw(n):
        y = np.repeat(np.arange(3), n)
        return (centres[y] + rng.normal(size=(len(y), 8))).astype(np.float32), y.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = draw(per_class), draw(per_class // 4)
    np.savez(folder / "blobs.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@pytest.fixture
def outside(tmp_path):
    """The three example files and the dataset's file in a folder outside the package."""
    for name in FILES:
        shutil.copy(EXAMPLES / name, tmp_path / name)
    write_blobs(tmp_path)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "NC_DATA_DIR": str(tmp_path),
        "NC_PLUGINS": f"{tmp_path / 'tiny_mlp.py'}:{tmp_path / 'blobs.py'}",
    }
    return tmp_path, env


def run(args: list[str], env: dict, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_the_guide_shows_each_example_file_word_for_word():
    guide = (REPO / "docs" / "extending.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.S)
    for name in FILES:
        assert (EXAMPLES / name).read_text() in blocks, f"docs/extending.md lacks {name} as it is"


def test_a_model_and_a_dataset_from_outside_train_from_the_command_line(outside):
    folder, env = outside
    out = folder / "run.parquet"
    args = ["-m", "nc_core.train", "--preset", "smoke", "--model", "tiny_mlp", "--dataset"]
    args += ["blobs", "--policy", "adaptive", "--eps", "0.3", "--kind", "rotated"]
    done = run([*args, "--width", "24", "--out", str(out), "--quiet"], env, folder)
    assert done.returncode == 0, done.stderr
    epochs = pd.read_parquet(out)
    layers = pd.read_parquet(folder / "run.layers.parquet")
    assert (epochs.model == "tiny_mlp").all() and (epochs.tiny_mlp_width == 24).all()
    assert "mlp_width" not in epochs.columns  # a row carries its own model's options only
    assert sorted(set(layers.layer)) == ["classifier", "fc1", "fc2"]
    # 8*24 + 24 + 24*24 + 24 + 24*3 + 3 parameters before anything is fixed
    assert epochs.trainable_params.iloc[0] == 8 * 24 + 24 + 24 * 24 + 24 + 24 * 3 + 3
    wrong = run([*args, "--dim", "3"], env, folder)
    assert wrong.returncode == 2 and "has no option 'dim'" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


def test_without_the_plugin_the_model_is_one_line_naming_the_known_ones(outside):
    folder, env = outside
    env = {k: v for k, v in env.items() if k != "NC_PLUGINS"}
    done = run(["-m", "nc_core.train", "--model", "tiny_mlp"], env, folder)
    assert done.returncode == 2 and "tiny_mlp" in done.stderr and "mlp" in done.stderr


@pytest.mark.slow
def test_a_study_from_outside_runs_on_them_and_its_figures_are_drawn(outside):
    pytest.importorskip("ray")
    folder, env = outside
    study = [str(folder / "lr_sweep.py"), "--preset", "smoke", "--model", "tiny_mlp"]
    study += ["--dataset", "blobs", "--storage", str(folder / "ray"), "--results"]
    study += [str(folder / "results"), "--num-cpus", "2", "--verbose", "0"]
    done = run(study, env, folder)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    epochs = pd.read_parquet(folder / "results" / "lr_sweep-smoke" / "epochs.parquet")
    assert set(epochs.model) == {"tiny_mlp"} and set(epochs.dataset) == {"blobs"}
    assert epochs.trial_id.nunique() == 4 and set(epochs.lr) == {0.01, 0.1}
    figures = folder / "figures"
    drawn = run(
        [
            str(REPO / "analysis" / "make_figures.py"),
            "--results",
            str(folder / "results"),
            "--storage",
            str(folder / "ray"),
            "--out",
            str(figures),
        ],
        {k: v for k, v in env.items() if k != "NC_PLUGINS"},  # drawn without importing them
        folder,
    )
    assert drawn.returncode == 0, drawn.stderr
    report = (figures / "REPORT.md").read_text()
    assert "Adaptive-ETF over the learning rate" in report
    assert list(figures.glob("lr_sweep-smoke_*.png"))
