"""studies/arch_sweep.py: its grid (network x dataset x kind x seed, each network at its own
size), its refusals, and the whole study at smoke size on small MNIST and CIFAR-10 files in
their real formats, run as a user runs it, with its figure set drawn from what it stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.figures.jobs import render
from analysis.figures.sets import FIGURE_SETS
from analysis.figures.sets.arch_nets import _final, network_tradeoff
from analysis.figures.style import label
from analysis.loading.load import load_study
from nc_core.cli.study import add_study_args, study_parser
from studies import arch_sweep
from tests.fake_datasets import mnist_arrays, write_cifar10, write_mnist_family

REPO = Path(__file__).resolve().parents[1]


def parse(*argv: str):
    parser = study_parser(arch_sweep.STUDY.doc)
    add_study_args(parser, name="arch_sweep")
    arch_sweep.add_options(parser)
    args = parser.parse_args(["--preset", "smoke", *argv])
    args.seeds = tuple(args.seeds or arch_sweep.STUDY.seeds[args.preset])
    return args


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    write_mnist_family(root, "MNIST", mnist_arrays(train_per_class=8, test_per_class=2))
    write_cifar10(root, train_per_class=8, test_per_class=2)
    monkeypatch.setenv("NC_DATA_DIR", str(root))
    return root


def test_grid_is_network_x_dataset_x_kind_x_seed_each_network_at_its_smoke_size():
    trials = arch_sweep.trial_list(
        ("resnet_mlp", "vgg11_bn"),
        ("mnist", "cifar10"),
        ("rotated", "orthogonal"),
        0.3,
        (0, 1),
        "smoke",
    )
    assert len(trials) == 2 * 2 * 2 * (1 + 2)
    first = trials[0]
    assert first == dict(
        model="resnet_mlp",
        dataset="mnist",
        resnet_mlp_base_width=8,
        resnet_mlp_blocks=1,
        resnet_mlp_head_depth=3,
        resnet_mlp_head_width=32,
        policy="none",
        seed=0,
    )
    adaptive = [t for t in trials if t["policy"] == "adaptive"]
    assert {t["kind"] for t in adaptive} == {"rotated", "orthogonal"} and {
        t["eps"] for t in adaptive
    } == {0.3}
    assert {(t["model"], t["dataset"]) for t in trials} == {
        (m, d) for m in ("resnet_mlp", "vgg11_bn") for d in ("mnist", "cifar10")
    }


def test_at_paper_size_a_network_runs_its_gpu_presets_recipe_unless_set():
    trials = arch_sweep.trial_list(("resnet18",), ("cifar10",), ("rotated",), 0.1, (0,), "paper")
    base = trials[0]
    assert (base["epochs"], base["lr"], base["schedule"]) == (200, 0.1, "cosine")
    kept = arch_sweep.setup("resnet18", "cifar10", "paper", {"epochs"})
    assert "epochs" not in kept and kept["weight_decay"] == 5e-4
    assert "epochs" not in arch_sweep.setup("vgg11_bn", "cifar10", "paper", set())  # no recipe


def test_spec_validates_every_trial_before_any_work(data_dir):
    spec = arch_sweep.build_spec(parse("--networks", "resnet_mlp", "--set", "subset=8"))
    assert len(spec.trials) == 2 * 3 and spec.base.model == "resnet_mlp"
    with pytest.raises(ValueError, match="a value is given twice"):
        arch_sweep.build_spec(parse("--networks", "resnet18", "resnet18"))
    with pytest.raises(ValueError, match="model='resnet19'"):
        arch_sweep.build_spec(parse("--networks", "resnet19"))
    with pytest.raises(ValueError, match="needs images"):
        arch_sweep.build_spec(parse("--datasets", "synthetic"))
    with pytest.raises(ValueError, match="--eps 2"):
        arch_sweep.build_spec(parse("--eps", "2"))


def test_a_missing_file_refuses_the_study_before_ray_starts(data_dir):
    (data_dir / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(ValueError, match="test_batch: no such file"):
        arch_sweep.build_spec(parse("--set", "subset=8"))


@pytest.mark.slow
def test_the_study_runs_at_smoke_size_on_files_in_the_real_formats_and_draws_its_figures(
    data_dir, tmp_path
):
    pytest.importorskip("ray")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NC_DATA_DIR": str(data_dir)}
    study = [str(REPO / "studies" / "arch_sweep.py"), "--preset", "smoke", "--verbose", "0"]
    study += ["--storage", str(tmp_path / "ray"), "--results", str(tmp_path / "results")]
    study += ["--num-cpus", "2", "--set", "subset=8", "--set", "nc_samples=8"]
    study += ["--set", "epochs=2", "--set", "batch_size=16"]
    done = subprocess.run(
        [sys.executable, *study], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path / "results" / "arch_sweep-smoke"
    epochs, layers = (
        pd.read_parquet(out / "epochs.parquet"),
        pd.read_parquet(out / "layers.parquet"),
    )
    assert set(epochs.status) == {"ok"} and epochs.trial_id.nunique() == 2 * 2 * 3
    assert set(zip(epochs.model, epochs.dataset, strict=True)) == {
        (m, d) for m in ("resnet_mlp", "vgg11_bn") for d in ("mnist", "cifar10")
    }
    assert (epochs[epochs.model == "vgg11_bn"].vgg11_bn_width == 8).all()
    stages = layers[(layers.model == "resnet_mlp") & layers.layer.str.startswith("layer")]
    assert set(stages.layer) == {"layer1.0", "layer2.0", "layer3.0"}
    fixed = layers[layers.fixed]
    resnet_fixed = fixed[fixed.model == "resnet_mlp"].layer
    assert not resnet_fixed.str.startswith("layer").any()  # the head only
    # Its figure set, drawn from what the study stored (its declaration names the set).
    study = load_study(tmp_path / "results", "arch_sweep-smoke", storage=tmp_path / "ray")
    assert study.figure_set == "arch_nets"
    # every trial matches the stored study: each network's rows carry its own options only
    assert study.problems == (), study.problems
    drawn = [
        render(job, tmp_path / "figures", False) for job in FIGURE_SETS["arch_nets"](study, None)
    ]
    stems = sorted(d.path.name for d in drawn if d.path is not None)
    assert stems == [
        f"arch_sweep-smoke_{s}.png" for s in ("cifar10_profiles", "mnist_profiles", "tradeoff")
    ]
    profiles = next(d for d in drawn if "cifar10" in d.title)
    assert "resnet_mlp: baseline train NCC accuracy" in profiles.note
    assert "vgg11_bn: baseline train NCC accuracy" in profiles.note
    # the trade-off legend: one neutral key per network and per arm, only those with a point
    fig, _ = network_tradeoff(study)
    shown = {t.get_text() for legend in fig.legends for t in legend.get_texts()}
    arms = set(_final(study).arm)
    assert shown == {"resnet_mlp", "vgg11_bn"} | {label(a) for a in arms}
