"""Training: fixed layers really freeze, accounting by formula, resume equivalence, errors."""

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from nc_core.cli.train import main as cli_main
from nc_core.data.fashion_mnist import DEBIAN_DIR
from nc_core.data.split import Split
from nc_core.fixing.etf import ETFLinear
from nc_core.results.records import EPOCH_COLUMNS, LAYER_COLUMNS
from nc_core.train.build import lr_at
from nc_core.train.config import RunConfig
from nc_core.train.loop import _Run, train
from nc_core.train.presets import preset
from nc_core.train.state import load_state, save_state

SYN = RunConfig.of(
    dataset="synthetic",
    width=32,
    depth=4,
    epochs=4,
    batch_size=64,
    nc_samples=None,
    seed=3,
    device="cpu",  # tests that train take `on_device` (tests/conftest.py): NC_TEST_DEVICE
)
TIMING = {"epoch_seconds", "eval_seconds"}


def comparable(records):
    out = []
    for r in records:
        d = dataclasses.asdict(r)
        for k in TIMING:
            d.pop(k)
        out.append(json.dumps(d, sort_keys=True))  # NaN == NaN as text
    return out


def test_static_fixed_layers_stay_bit_identical_while_the_rest_trains(on_device):
    cfg = on_device(SYN.replace(policy="static", fix_from=2, kind="rotated", epochs=1))
    run = _Run(cfg, None, None)
    before = {n: t.clone() for n, t in run.model.state_dict().items()}
    for _ in range(3):
        run.step()
    after = run.model.state_dict()
    assert isinstance(run.model.fc3, ETFLinear) and isinstance(run.model.classifier, ETFLinear)
    assert torch.equal(before["fc3.weight"], after["fc3.weight"])
    assert torch.equal(before["classifier.weight"], after["classifier.weight"])
    assert not torch.equal(before["fc3.bias"], after["fc3.bias"])  # biases still train
    assert not torch.equal(before["fc1.weight"], after["fc1.weight"])


def test_adaptive_fixes_layers_and_they_stop_changing(on_device):
    cfg = SYN.replace(policy="adaptive", eps=0.2, patience=1, kind="rotated", epochs=4, max_fixed=2)
    cfg = on_device(cfg)
    run = _Run(cfg, None, None)
    snapshots = []
    for _ in range(cfg.epochs):
        run.step()
        snapshots.append({n: t.clone() for n, t in run.model.state_dict().items()})
    fixed = run.records[-1].fixed_layers
    assert fixed, "synthetic classes are separable: some layer must reach NCC error <= 0.2"
    first = run.fixed[fixed[0]].epoch
    name = f"{fixed[0]}.weight"
    assert all(torch.equal(snapshots[first - 1][name], s[name]) for s in snapshots[first:])
    opt_params = {id(p) for g in run.opt.param_groups for p in g["params"]}
    assert id(run.model.get_submodule(fixed[0]).weight) not in opt_params
    assert all(p.requires_grad for g in run.opt.param_groups for p in g["params"])


def test_trainable_parameters_by_formula(on_device):
    d, w, K, depth = 32, 32, 10, 4
    total = d * w + w + (depth - 2) * (w * w + w) + (depth - 1) * 2 * w + w * K + K
    base = train(on_device(SYN.replace(epochs=1))).records[0]
    assert (base.trainable_params, base.total_params) == (total, total)
    static = train(on_device(SYN.replace(epochs=1, policy="static", fix_from=1))).records[0]
    fixed_weights = (depth - 2) * w * w + w * K  # fc2, fc3 and the classifier
    assert (static.trainable_params, static.total_params) == (total - fixed_weights, total)


def test_fixed_layers_leave_the_optimizer_state(on_device):
    base = train(on_device(SYN.replace(epochs=2))).records[-1]
    static = train(on_device(SYN.replace(epochs=2, policy="static", fix_from=1))).records[-1]
    # SGD keeps one momentum buffer per trainable parameter (float32).
    assert base.optimizer_state_bytes == 4 * base.trainable_params
    assert static.optimizer_state_bytes == 4 * static.trainable_params


RESUME_SCRIPT = """
import os, sys
import torch
if os.environ.get("NC_TEST_DEVICE", "cpu").startswith("cuda"):  # as tests/conftest.py does
    torch.use_deterministic_algorithms(True, warn_only=True)
from nc_core.train.state import load_state, save_state
from nc_core.train.loop import train
state = load_state(sys.argv[1])
from nc_core.train.config import RunConfig
cfg = RunConfig.from_dict({**state.config, "epochs": 4})
save_state(train(cfg, state=state).state, sys.argv[2])
"""


def test_resume_in_a_new_process_equals_training_straight_through(tmp_path, on_device):
    cfg = SYN.replace(policy="adaptive", eps=0.2, patience=1, kind="rotated", max_fixed=2)
    cfg = on_device(cfg)
    straight = train(cfg)
    half = train(cfg.replace(epochs=2))
    save_state(half.state, tmp_path / "half.pt")
    subprocess.run(
        [sys.executable, "-c", RESUME_SCRIPT, str(tmp_path / "half.pt"), str(tmp_path / "full.pt")],
        check=True,
    )
    resumed = load_state(tmp_path / "full.pt")
    assert resumed.epoch == 4
    assert comparable(resumed.records) == comparable(straight.records)
    for name, t in straight.state.model.items():
        assert torch.equal(t.cpu(), resumed.model[name]), name


def test_resume_refuses_a_state_from_another_config(tmp_path, on_device):
    state = train(on_device(SYN.replace(epochs=1))).state
    with pytest.raises(ValueError, match="width"):
        train(on_device(SYN.replace(width=48)), state=state)


def test_non_finite_loss_stops_as_diverged_and_keeps_records(on_device):
    result = train(on_device(SYN.replace(lr=1e12, momentum=0.0, batch_norm=False, epochs=5)))
    assert result.status == "diverged"
    assert 1 <= len(result.records) < 5
    assert not math.isfinite(result.records[-1].train_loss)


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(eps=1.5), "eps"),
        (dict(eps=-0.1), "eps"),
        (dict(width=5, kind="canonical"), "mlp_width"),
        (dict(depth=1), "mlp_depth"),
        (dict(policy="sometimes"), "policy"),
        (dict(kind="ortho"), "kind"),
        (dict(schedule="linear"), "schedule"),
        (dict(model="vit", dataset="fashion_mnist", vit_patch=5), "vit_patch"),
        (dict(model="vit", dataset="fashion_mnist", vit_dim=30, vit_heads=4), "vit_dim"),
        (dict(model="vit"), "model='vit': needs square images"),
        (dict(policy="static"), "fix_from"),
    ],
)
def test_bad_config_is_a_value_error_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=rf"RunConfig\.{field}"):
        train(SYN.replace(**changes))


def test_learning_rate_schedules():
    cfg = RunConfig(epochs=100, lr=0.1)
    assert lr_at(cfg, 0) == lr_at(cfg, 99) == 0.1
    multi = cfg.replace(schedule="multistep")
    assert [lr_at(multi, e) for e in (49, 50, 74, 75)] == pytest.approx([0.1, 0.01, 0.01, 0.001])
    cos = cfg.replace(schedule="cosine", warmup_epochs=4)
    assert lr_at(cos, 0) == pytest.approx(0.02) and lr_at(cos, 4) == pytest.approx(0.1)
    assert lr_at(cos, 52) == pytest.approx(0.05)


def test_cli_writes_both_tables_and_resumes_from_a_checkpoint(tmp_path, capsys, on_device):
    out, ck = tmp_path / "run.parquet", tmp_path / "run.pt"
    where = on_device(SYN)
    args = [
        "--device",
        where.device,
        "--precision",
        where.precision,
        "--preset",
        "smoke",
        "--dataset",
        "synthetic",
        "--policy",
        "adaptive",
        "--kind",
        "rotated",
        "--out",
        str(out),
        "--checkpoint",
        str(ck),
    ]
    assert cli_main(args + ["--epochs", "2"]) == 0
    assert cli_main(args + ["--epochs", "3"]) == 0
    assert "resuming from" in capsys.readouterr().out
    epochs = pd.read_parquet(out)
    layers = pd.read_parquet(tmp_path / "run.layers.parquet")
    assert list(epochs.epoch) == [1, 2, 3]
    assert set(EPOCH_COLUMNS) <= set(epochs.columns) and set(LAYER_COLUMNS) <= set(layers.columns)
    assert len(layers) == 3 * 4  # 3 epochs x (fc1..fc3, classifier)
    assert (epochs.mlp_width == 64).all() and (epochs.policy == "adaptive").all()


def test_cli_rejects_bad_values_before_any_work(capsys):
    assert cli_main(["--preset", "smoke", "--eps", "2"]) == 2
    assert "RunConfig.eps=2.0" in capsys.readouterr().err


@pytest.mark.skipif(
    not Path(DEBIAN_DIR).exists(),
    reason="real Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist_smoke_run_learns(on_device):
    result = train(on_device(preset("smoke", policy="adaptive", kind="rotated")))
    assert result.status == "ok" and len(result.records) == 3
    assert result.records[-1].test_acc > 0.6  # 100 images per class, 3 epochs


def test_vit_blocks_built_as_etf_count_as_fixed_from_epoch_zero(on_device):
    cfg = preset(
        "vit-smoke", epochs=1, etf_blocks="last:1", kind="rotated", subset=None, nc_samples=None
    )
    cfg = on_device(cfg)
    split = Split(torch.rand(40, 1, 28, 28), torch.arange(10).repeat(4))  # 4 images per class
    record = train(cfg, data=(split, split)).records[-1]
    assert record.fixed_layers == ["blocks.1"]
    assert record.layers["blocks.1"].fixed_as == "rotated"
    assert record.layers["blocks.1"].fixed_epoch == 0
    assert record.layers["blocks.0"].fixed_as == ""


def test_ctrl_c_on_a_run_is_one_line_exit_130_and_the_same_command_resumes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    ck, out = tmp_path / "run.pt", tmp_path / "run.parquet"
    cmd = [sys.executable, "-m", "nc_core.train", "--preset", "smoke", "--dataset", "synthetic"]
    cmd += ["--epochs", "400", "--device", "cpu", "--checkpoint", str(ck), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().startswith("epoch   1/400")  # one epoch done and saved
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "interrupted after epoch" in lines[0], stderr
    assert f"rerun the same command to resume from {ck}" in lines[0]
    done = int(lines[0].split("interrupted after epoch ")[1].split(";")[0])
    kept = pd.read_parquet(out)
    assert list(kept.epoch) == list(range(1, done + 1)) and set(kept.status) == {"incomplete"}
    again = subprocess.run(
        [*cmd[:8], str(done + 1), *cmd[9:]],  # a constant rate: a shorter run resumes too
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and f"resuming from {ck} after epoch {done}" in again.stdout


def test_abbreviated_flags_are_refused_and_a_misspelt_setting_gets_the_closest_names(capsys):
    import argparse

    from nc_core.cli.study import base_config

    with pytest.raises(SystemExit) as stop:
        cli_main(["--preset", "smoke", "--epoch", "2"])  # not taken for --epochs
    assert stop.value.code == 2
    assert "unrecognized arguments: --epoch" in capsys.readouterr().err
    args = argparse.Namespace(preset="smoke", model=None, dataset=None, set=["epoch=1"])
    with pytest.raises(ValueError, match="did you mean epochs"):
        base_config(args)
    args.set = ["widht=8"]
    with pytest.raises(ValueError, match="did you mean width"):
        base_config(args)
