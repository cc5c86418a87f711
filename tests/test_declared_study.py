"""A study declared outside the package, in one file of its own: found by nc-study through
NC_PLUGINS, run as a script at smoke size, and drawn by make_figures from the declaration stored
with it, without importing that file again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]

STUDY_FILE = '''"""Adaptive-ETF at one eps over the learning rate, against the plain MLP."""

import sys

from nc_core.cli.study import base_config, study_main, study_name
from nc_core.study.declaration import StudyType
from nc_core.study.registry import register_study
from nc_core.study.spec import StudySpec


def add_options(parser):
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.05], help="rates")


def build_spec(args):
    trials = []
    for seed in args.seeds:
        trials.append(dict(policy="none", seed=seed))
        trials += [dict(policy="adaptive", eps=0.3, lr=lr, seed=seed) for lr in args.lrs]
    return StudySpec(
        name=study_name(args, STUDY.name), base=base_config(args), trials=tuple(trials)
    )


STUDY = register_study(
    StudyType(name="lr_sweep", title="Adaptive-ETF over the learning rate",
              method="LR-ETF", arm_keys=("lr", "kind")),
    doc=__doc__,
    options=add_options,
    build=build_spec,
    summary_keys=("policy", "lr"),
)

if __name__ == "__main__":
    sys.exit(study_main(STUDY))
'''


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_nc_study_lists_and_parses_a_study_named_in_nc_plugins(tmp_path):
    module = tmp_path / "my_study.py"
    module.write_text(STUDY_FILE)
    listing = run(["-m", "nc_core", "study", "--help"], tmp_path, NC_PLUGINS=str(module))
    assert listing.returncode == 0, listing.stderr
    assert "lr_sweep" in listing.stdout and "eps_sweep" in listing.stdout
    usage = run(["-m", "nc_core", "study", "lr_sweep", "--help"], tmp_path, NC_PLUGINS=str(module))
    assert usage.returncode == 0, usage.stderr
    assert "--lrs" in usage.stdout and "--preset" in usage.stdout
    assert "nc-study lr_sweep" in usage.stdout


@pytest.mark.slow
def test_a_study_declared_in_a_temporary_module_runs_and_is_drawn_from_its_declaration(tmp_path):
    pytest.importorskip("ray", reason="runs a study on Ray Tune")
    module = tmp_path / "my_study.py"
    module.write_text(STUDY_FILE)
    results = tmp_path / "results"
    study = run(
        [
            str(module),
            *("--preset", "smoke", "--dataset", "synthetic", "--set", "epochs=2"),
            *("--storage", str(results / "ray"), "--results", str(results)),
            *("--verbose", "0", "--num-cpus", "2"),
        ],
        tmp_path,
    )
    assert study.returncode == 0, study.stderr[-3000:]
    assert (results / "lr_sweep-smoke" / "epochs.parquet").is_file()
    module.unlink()  # the analysis reads the stored declaration, never the module
    out = tmp_path / "figures"
    drawn = run([str(REPO / "analysis" / "make_figures.py"), "--results", str(results), "--out",
                 str(out)], tmp_path)  # fmt: skip
    assert drawn.returncode == 0, drawn.stderr
    assert "lr_sweep-smoke: lr_sweep (from its study file" in drawn.stdout
    table = pd.read_csv(out / "lr_sweep-smoke_table.csv")
    assert set(table["method"]) == {"baseline", "LR-ETF"}
    arms = table[table["method"] == "LR-ETF"]
    assert sorted(arms["lr"]) == [0.01, 0.05]
    assert (arms["n_pairs"] == 1).all()  # an arm key is no setup: one baseline for every lr
    for stem in ("training", "collapse_epochs", "depth_profile", "tradeoff"):
        assert (out / f"lr_sweep-smoke_{stem}.png").is_file(), stem
    report = (out / "REPORT.md").read_text()
    assert "## lr_sweep-smoke: Adaptive-ETF over the learning rate" in report
    assert "](lr_sweep-smoke_training.png)" in report
