"""What nc-core 0.1 wrote still works: its checkpoint resumes, its tables read in today's column
names, and its stored study exports and resumes (tests/fixtures/v0_1, README there says how each
file was made). Every test works on a copy; the fixture files are never changed."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nc_core.cli.train import main as train_main
from nc_core.results.records import upgrade_table
from nc_core.train.config import RunConfig
from nc_core.train.state import load_state

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "v0_1"
RUN = [  # the command that wrote run_state.pt and run.parquet, but for --epochs
    "--preset",
    "smoke",
    "--dataset",
    "synthetic",
    "--width",
    "16",
    "--depth",
    "3",
    "--subset",
    "40",
    "--nc-samples",
    "20",
    "--policy",
    "adaptive",
    "--eps",
    "0.3",
    "--kind",
    "rotated",
    "--device",
    "cpu",
]
STUDY = [  # the command that stored ray/legacy_study, less its injected failure
    "--preset",
    "smoke",
    "--dataset",
    "synthetic",
    "--set",
    "epochs=3",
    "--set",
    "width=16",
    "--set",
    "depth=3",
    "--set",
    "nc_samples=20",
    "--set",
    "subset=40",
    "--eps",
    "0.3",
    "--kinds",
    "rotated",
    "--seeds",
    "0",
    "--name",
    "legacy_study",
    "--num-cpus",
    "2",
    "--max-failures",
    "0",
    "--verbose",
    "0",
]


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def untouched():
    """The fixture folder's digest before and after the module's tests: nothing changes it."""
    before = digest(FIXTURE)
    yield
    assert digest(FIXTURE) == before


def test_a_0_1_checkpoint_loads_with_its_flat_config_read_in_todays_names(untouched):
    state = load_state(FIXTURE / "run_state.pt")
    assert "width" in state.config and "mlp_width" not in state.config  # the 0.1 spelling
    cfg = RunConfig.from_dict(state.config)
    assert (cfg.model, cfg.arch.width, cfg.arch.depth, cfg.kind) == ("mlp", 16, 3, "rotated")
    assert state.epoch == 2 and [r.epoch for r in state.records] == [1, 2]


def test_a_0_1_checkpoint_resumes_to_the_records_of_an_uninterrupted_run(tmp_path, untouched):
    ck = tmp_path / "run_state.pt"
    shutil.copy(FIXTURE / "run_state.pt", ck)
    resumed, fresh = tmp_path / "resumed.parquet", tmp_path / "fresh.parquet"
    common = [*RUN, "--epochs", "3", "--quiet"]
    assert train_main([*common, "--checkpoint", str(ck), "--out", str(resumed)]) == 0
    assert train_main([*common, "--out", str(fresh)]) == 0
    a, b = pd.read_parquet(resumed), pd.read_parquet(fresh)
    same = ["epoch", "train_loss", "train_acc", "test_acc", "trainable_params", "fixed_layers"]
    pd.testing.assert_frame_equal(a[same], b[same])
    assert list(a.epoch) == [1, 2, 3]


def test_0_1_tables_read_in_todays_column_names_with_other_models_options_blank(untouched):
    old = pd.read_parquet(FIXTURE / "run.parquet")
    assert {"width", "vit_dim", "etf_blocks"} <= set(old.columns)
    new = upgrade_table(old)
    assert (new.mlp_width == 16).all() and (new.mlp_depth == 3).all()
    assert new.vit_dim.isna().all() and new.vit_etf_blocks.isna().all()  # an MLP row
    assert "width" not in new.columns
    today = upgrade_table(new)
    pd.testing.assert_frame_equal(today, new)  # today's tables pass through unchanged


def test_a_0_1_run_table_is_collected_beside_a_run_of_today(tmp_path, untouched):
    from nc_core.results.collect import collect

    for name in ("run.parquet", "run.layers.parquet"):
        shutil.copy(FIXTURE / name, tmp_path / f"old{name.removeprefix('run')}")
    new = tmp_path / "new.parquet"
    assert train_main([*RUN, "--epochs", "1", "--quiet", "--out", str(new)]) == 0
    epochs, layers = collect([tmp_path / "old.parquet", new], "mixed")
    assert sorted(set(epochs.trial_name)) == ["new", "old"] and set(layers.study) == {"mixed"}
    old = epochs[epochs.trial_id == "old"]
    assert (old.data_digest == "").all() and (epochs[epochs.trial_id == "new"].epoch == 1).all()


def test_a_0_1_run_table_draws_its_figures(tmp_path, untouched):
    for name in ("run.parquet", "run.layers.parquet"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "analysis" / "make_figures.py"),
            "--run",
            str(tmp_path / "run.parquet"),
            "--out",
            str(tmp_path / "fig"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "fig" / "REPORT.md").is_file()


def _study(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "studies" / "eps_sweep.py"),
            *STUDY,
            "--storage",
            str(tmp_path / "ray"),
            "--results",
            str(tmp_path / "results"),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )


@pytest.mark.slow
def test_a_study_stored_by_0_1_exports_and_then_resumes_to_the_end(tmp_path, untouched):
    pytest.importorskip("ray")
    shutil.copytree(FIXTURE / "ray", tmp_path / "ray")
    shutil.copytree(FIXTURE / "results", tmp_path / "results")
    exported = _study(tmp_path, "--export-only")
    assert exported.returncode == 1, exported.stderr  # both trials failed then: exit 1
    epochs = pd.read_parquet(tmp_path / "results" / "legacy_study" / "epochs.parquet")
    assert sorted(epochs.epoch) == [1, 1] and (epochs.mlp_width == 16).all()
    resumed = _study(tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming" in resumed.stdout
    epochs = pd.read_parquet(tmp_path / "results" / "legacy_study" / "epochs.parquet")
    assert sorted(epochs.groupby("trial_id").epoch.max()) == [3, 3]
    assert len(epochs) == 6 and not epochs.duplicated(["trial_id", "epoch"]).any()
    assert set(epochs.status) == {"ok"}
