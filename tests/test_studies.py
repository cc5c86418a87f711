"""The studies at smoke size under one local Ray of 2 CPUs: tables, search, crash, resume.

Every test here shares the session's Ray (`ray_session`); `run_study` joins it instead of
starting its own. The resume test alone runs a study as a separate driver process, so that it
can be killed. Whole file: about two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
from ray import tune

from nc_core.build import build_adapter, build_model
from nc_core.config import RunConfig
from nc_core.fashion_mnist import DataError, load_fashion_mnist
from nc_core.presets import preset
from nc_core.records import CONFIG_COLUMNS, EPOCH_COLUMNS, LAYER_COLUMNS
from nc_core.state import load_state
from nc_core.study import StudyOptions, StudySpec
from nc_core.study_cli import base_config, study_name
from nc_core.study_tables import pareto_front
from nc_core.trial import override_columns, trial_label
from nc_core.tune.run import run_study
from studies import depth_width, eps_sweep, vit_blocks

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.fixture(scope="session")
def ray_session():
    temp = tempfile.mkdtemp(prefix="ncray", dir="/tmp")  # short: Ray's socket paths are capped
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=80 * 1024**2,
        _temp_dir=temp,
        log_to_driver=False,
    )
    yield
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def has_fashion_mnist() -> bool:
    try:
        load_fashion_mnist(download=False)
    except DataError:
        return False
    return True


@pytest.fixture(scope="session")
def mlp_dataset(has_fashion_mnist) -> str:
    """Real data when installed (the smoke run CI makes), synthetic classes otherwise."""
    return "fashion_mnist" if has_fashion_mnist else "synthetic"


def common(tmp: Path, *extra: str) -> list[str]:
    """The smoke command line, storing under `tmp`, plus `extra` (one string is split)."""
    where = ["--storage", str(tmp / "ray"), "--results", str(tmp / "results")]
    if len(extra) == 1:
        extra = tuple(extra[0].split())
    return ["--preset", "smoke", "--verbose", "0", *where, *extra]


def read_tables(tmp: Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = tmp / "results" / name
    return pd.read_parquet(out / "epochs.parquet"), pd.read_parquet(out / "layers.parquet")


def check_tables(epochs: pd.DataFrame, layers: pd.DataFrame, trials: int, cfg: RunConfig) -> None:
    """Schemas, one row per (trial, epoch[, layer]), every trial finished."""
    assert list(epochs.columns) == EPOCH_COLUMNS + CONFIG_COLUMNS
    assert list(layers.columns) == LAYER_COLUMNS + CONFIG_COLUMNS
    model = build_model(cfg, in_dim=784 if cfg.dataset == "fashion_mnist" else 32)
    n_layers = len(build_adapter(cfg, model).layers)
    assert epochs.trial_id.nunique() == trials
    assert len(epochs) == trials * cfg.epochs
    assert len(layers) == trials * cfg.epochs * n_layers  # eval_every=1: NC every epoch
    assert not epochs.duplicated(["trial_id", "epoch"]).any()
    assert not layers.duplicated(["trial_id", "epoch", "layer"]).any()
    for _, trial in epochs.groupby("trial_id"):
        assert sorted(trial.epoch) == list(range(1, cfg.epochs + 1))
    assert set(epochs.status) == {"ok"}


def test_eps_sweep_smoke_tables_one_row_per_trial_epoch_and_layer_and_readable_console(
    tmp_path, mlp_dataset, capsys
):
    eps_sweep.main(common(tmp_path, "--dataset", mlp_dataset, "--verbose", "1"))
    # --verbose 1 (the default): Tune's table names each trial and shows each override it sets
    # in a column of its own, nothing cut short ("...") and no column of the whole override dict
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ")
    ]
    headers = [row for row in rows if row[0] == "Trial name"]
    assert headers and all(
        h[1:7] == ["status", "loc", "policy", "seed", "kind", "eps"] for h in headers
    )
    assert not any("trial" in h for h in headers)
    names = {row[0] for row in rows if row[0] != "Trial name"}
    assert names == {"baseline-s0", "eps0.1-canonical-s0", "eps0.3-canonical-s0"}
    assert not any("..." in cell for row in rows for cell in row)
    epochs, layers = read_tables(tmp_path, "eps_sweep-smoke")
    check_tables(
        epochs,
        layers,
        trials=1 + len(eps_sweep.SMOKE_EPS),
        cfg=preset("smoke", dataset=mlp_dataset),
    )
    last = epochs[epochs.epoch == epochs.epoch.max()]
    assert sorted(last[last.policy == "adaptive"].eps) == sorted(eps_sweep.SMOKE_EPS)
    assert (last.study == "eps_sweep-smoke").all() and (
        last.trainable_params <= last.total_params
    ).all()

    # --export-only rebuilds the same tables from storage, training nothing
    (tmp_path / "results" / "eps_sweep-smoke" / "epochs.parquet").unlink()
    eps_sweep.main(common(tmp_path, "--dataset", mlp_dataset, "--export-only"))
    again, _ = read_tables(tmp_path, "eps_sweep-smoke")
    pd.testing.assert_frame_equal(again, epochs)


def test_depth_width_smoke_runs_baseline_and_every_fix_from(tmp_path, mlp_dataset):
    depth_width.main(common(tmp_path, "--dataset", mlp_dataset))
    epochs, layers = read_tables(tmp_path, "depth_width-smoke")
    (width,), (depth,) = depth_width.WIDTHS["smoke"], depth_width.DEPTHS["smoke"]
    check_tables(
        epochs,
        layers,
        trials=depth,  # the baseline + fix_from 1..depth-1
        cfg=preset("smoke", dataset=mlp_dataset, width=width, depth=depth),
    )
    static = epochs[epochs.policy == "static"]
    assert sorted(static.fix_from.unique()) == list(range(1, depth))
    fixed = layers[(layers.policy == "static") & layers.fixed]
    assert (fixed.layer_index >= fixed.fix_from).all() and (fixed.fixed_epoch == 0).all()


def test_vit_blocks_smoke_runs_every_block_choice(tmp_path, has_fashion_mnist):
    if not has_fashion_mnist:
        pytest.skip("Fashion-MNIST not installed (the ViT needs images): make data")
    vit_blocks.main(common(tmp_path))
    epochs, layers = read_tables(tmp_path, "vit_blocks-smoke")
    check_tables(
        epochs, layers, trials=1 + len(vit_blocks.BLOCKS["smoke"]), cfg=preset("vit-smoke")
    )
    params = epochs.groupby("etf_blocks").trainable_params.max()
    assert params["all"] < params["last:1"] < params["none"]


def test_eps_sweep_optuna_search_saves_pareto_front(tmp_path):
    search = "--dataset synthetic --search optuna --search-lr --num-samples 3 --set epochs=2"
    eps_sweep.main(common(tmp_path, search))
    epochs, layers = read_tables(tmp_path, "eps_sweep_optuna-smoke")
    check_tables(epochs, layers, trials=3, cfg=preset("smoke", dataset="synthetic", epochs=2))
    assert epochs.groupby("trial_id").eps.first().nunique() == 3  # sampled, not a grid
    front = pd.read_csv(tmp_path / "results" / "eps_sweep_optuna-smoke" / "pareto.csv")
    last = epochs[epochs.epoch == 2]
    for _, row in front.iterrows():  # nothing dominates a front row
        better = last[
            (last.test_acc >= row.test_acc)
            & (last.trainable_params <= row.trainable_params)
            & ((last.test_acc > row.test_acc) | (last.trainable_params < row.trainable_params))
        ]
        assert better.empty


def test_pareto_front_keeps_exactly_the_non_dominated_rows():
    df = pd.DataFrame({"acc": [0.9, 0.8, 0.85, 0.7, 0.9], "params": [100, 50, 80, 50, 120]})
    front = pareto_front(df, (("acc", "max"), ("params", "min")))
    assert sorted(front.index) == [0, 1, 2]  # 3 is dominated by 1, 4 by 0


def test_crashed_trial_resumes_from_its_checkpoint_and_study_completes(tmp_path):
    crash = "--dataset synthetic --eps 0.1 --set epochs=4 --fail-at-epoch 2 --max-failures 1"
    eps_sweep.main(common(tmp_path, crash))
    epochs, layers = read_tables(tmp_path, "eps_sweep-smoke")
    check_tables(epochs, layers, trials=2, cfg=preset("smoke", dataset="synthetic", epochs=4))
    analysis = tune.ExperimentAnalysis(str(tmp_path / "ray" / "eps_sweep-smoke"))
    for trial in analysis.trials:
        assert trial.run_metadata.num_failures == 1
        assert "InjectedFailure" in (Path(trial.path) / "error.txt").read_text()
        # The retry restored epoch 1 from the checkpoint and trained epochs 2-4 only: three
        # iterations since the restore (a restart from scratch would have run four).
        assert trial.last_result["iterations_since_restore"] == 3
        kept = load_state(Path(trial.checkpoint.path) / "state.pt").records
        row = epochs[(epochs.trial_id == trial.trial_id) & (epochs.epoch == 1)].iloc[0]
        assert row.epoch_seconds == kept[0].epoch_seconds  # epoch 1: the pre-crash record


def test_diverged_trial_is_recorded_and_study_goes_on(tmp_path):
    spec = StudySpec(
        name="diverge",
        base=preset("smoke", dataset="synthetic", epochs=3),
        trials=({"lr": 1e12}, {}),
    )
    opts = StudyOptions(storage=str(tmp_path / "ray"), results=str(tmp_path / "results"), verbose=0)
    epochs = run_study(spec, opts).epochs
    status = epochs.groupby("lr").status.agg(set)
    assert status[1e12] == {"diverged"} and status[0.01] == {"ok"}
    assert len(epochs[epochs.lr == 0.01]) == 3 and len(epochs[epochs.lr == 1e12]) < 3


def test_rerun_with_different_trials_refuses_before_any_work(tmp_path):
    opts = StudyOptions(
        storage=str(tmp_path / "ray"),
        results=str(tmp_path / "results"),
        verbose=0,
        export_only=False,
    )
    base = preset("smoke", dataset="synthetic", epochs=1)
    run_study(StudySpec(name="same", base=base, trials=({"seed": 0},)), opts)
    with pytest.raises(ValueError, match="different study"):
        run_study(StudySpec(name="same", base=base, trials=({"seed": 1},)), opts)


def test_study_spec_and_set_options_reject_bad_input_early(tmp_path):
    base = preset("smoke")
    with pytest.raises(ValueError, match="not RunConfig fields"):
        StudySpec(name="x", base=base, trials=({"epsilon": 0.1},))
    with pytest.raises(ValueError, match="eps"):
        StudySpec(name="x", base=base, trials=({"eps": 2.0},))
    with pytest.raises(ValueError, match="either"):
        StudySpec(name="x", base=base)
    parser = argparse.ArgumentParser()
    eps_sweep.add_study_args(parser, name="x")
    args = parser.parse_args(
        [
            "--preset",
            "smoke",
            "--set",
            "subset=none",
            "--set",
            "lr=0.1",
            "--set",
            "batch_norm=false",
        ]
    )
    cfg = base_config(args)
    assert (cfg.subset, cfg.lr, cfg.batch_norm) == (None, 0.1, False)
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        base_config(parser.parse_args(["--set", "widht=3"]))
    with pytest.raises(SystemExit):  # a command-line error, before anything is written
        vit_blocks.main(common(tmp_path, "--blocks", "last:5"))
    assert not (tmp_path / "ray").exists()


def _finished_checkpoints(path: Path) -> tuple[int, int]:
    """(trials whose checkpoint says ok, trials with a 'running' checkpoint at epoch >= 2)."""
    ok, running = set(), set()
    for meta in path.glob("trial_*/checkpoint_*/meta.json"):
        try:
            m = json.loads(meta.read_text())
        except (OSError, ValueError):  # being written or deleted right now
            continue
        (ok if m["status"] == "ok" else running if m["epoch"] >= 2 else set()).add(meta.parts[-3])
    return len(ok), len(running - ok)


def test_killed_study_resumes_without_rerunning_finished_trials(tmp_path):
    grid = "--eps 0.01 0.02 0.05 0.1 0.2 0.3 --max-concurrent 1 --dataset synthetic"
    args = common(tmp_path, f"{grid} --set epochs=6 --set width=256 --set nc_samples=none")
    path = tmp_path / "ray" / "eps_sweep-smoke"
    ray_tmp = tempfile.mkdtemp(prefix="ncray", dir="/tmp")
    env = {**os.environ, "RAY_TMPDIR": ray_tmp}
    driver = subprocess.Popen(
        [sys.executable, str(REPO / "studies" / "eps_sweep.py"), *args, "--num-cpus", "1"],
        cwd=tmp_path,
        env=env,
        start_new_session=True,  # its own group: Ray's processes too
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and driver.poll() is None:
            ok, running = _finished_checkpoints(path)
            if ok >= 2 and (running or ok >= 4):
                break
            time.sleep(0.05)
        assert driver.poll() is None, "the study ended before it could be interrupted"
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and its whole local Ray
        driver.wait()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    before = tune.ExperimentAnalysis(str(path)).trials
    finished = {t.trial_id: t.last_result for t in before if t.status == "TERMINATED"}
    assert finished, "no trial had finished in Tune's last saved state"
    saved = {
        t.trial_id: {
            r.epoch: r.epoch_seconds
            for r in load_state(Path(t.checkpoint.path) / "state.pt").records
        }
        for t in before
        if t.checkpoint is not None
    }
    assert set(saved) > set(finished), "no unfinished trial had a checkpoint"

    eps_sweep.main(args)  # the same command again, in this process's Ray
    epochs, layers = read_tables(tmp_path, "eps_sweep-smoke")
    cfg = preset("smoke", dataset="synthetic", epochs=6, width=256, nc_samples=None)
    check_tables(epochs, layers, trials=7, cfg=cfg)
    after = {t.trial_id: t for t in tune.ExperimentAnalysis(str(path)).trials}
    for trial_id, last in finished.items():  # not rerun: Tune got no new result from them
        assert after[trial_id].last_result["timestamp"] == last["timestamp"]
    for trial_id, kept in saved.items():  # epochs up to each checkpoint were not retrained
        rows = epochs[(epochs.trial_id == trial_id) & epochs.epoch.isin(kept)]
        assert dict(zip(rows.epoch, rows.epoch_seconds, strict=True)) == kept


def test_study_with_an_errored_trial_writes_tables_and_exits_nonzero(tmp_path, capsys):
    crash = "--dataset synthetic --eps 0.1 --set epochs=3 --fail-at-epoch 2 --max-failures 0"
    code = eps_sweep.main(common(tmp_path, crash))
    out = capsys.readouterr().out
    assert code == 1
    epochs, _ = read_tables(tmp_path, "eps_sweep-smoke")
    assert set(epochs.status) == {"error"} and set(epochs.epoch) == {1}  # up to the checkpoint
    assert out.count("failed:") == 2 and "injected failure at epoch 2" in out


def test_ctrl_c_writes_the_tables_as_incomplete_and_exits_130(tmp_path):
    args = common(
        tmp_path, "--dataset synthetic --eps 0.1 --max-concurrent 1 --set epochs=40 --num-cpus 1"
    )
    ray_tmp = tempfile.mkdtemp(prefix="ncray", dir="/tmp")
    driver = subprocess.Popen(
        [sys.executable, str(REPO / "studies" / "eps_sweep.py"), *args],
        cwd=tmp_path,
        env={**os.environ, "RAY_TMPDIR": ray_tmp, "PYTHONPATH": str(REPO)},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 150
        path = tmp_path / "ray" / "eps_sweep-smoke"
        while time.monotonic() < deadline and driver.poll() is None:
            if any(path.glob("trial_*/checkpoint_*/meta.json")):
                break
            time.sleep(0.1)
        assert driver.poll() is None, "the study ended before it could be interrupted"
        driver.send_signal(signal.SIGINT)  # Ctrl-C: to the driver, as a terminal would
        output, _ = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert driver.returncode == 130, output[-2000:]
    epochs, layers = read_tables(tmp_path, "eps_sweep-smoke")
    assert "incomplete" in set(epochs.status) and len(layers)


def test_study_names_default_to_script_and_preset_so_sizes_never_collide():
    parser = argparse.ArgumentParser()
    eps_sweep.add_study_args(parser, name="eps_sweep")
    presets = ("smoke", "quick", "paper")
    names = [study_name(parser.parse_args(["--preset", p]), "eps_sweep") for p in presets]
    assert names == ["eps_sweep-smoke", "eps_sweep-quick", "eps_sweep-paper"]
    assert study_name(parser.parse_args(["--name", "mine"]), "eps_sweep") == "mine"


def test_trial_labels_name_what_each_trial_varies():
    eps_trials = eps_sweep.trial_list((0.1,), ("rotated",), (0,))
    assert [trial_label(t) for t in eps_trials] == ["baseline-s0", "eps0.1-rotated-s0"]
    shapes = depth_width.trial_list((32,), (3,), (0,))
    assert [trial_label(t) for t in shapes] == [
        "w32-d3-baseline-s0",
        "w32-d3-from1-canonical-s0",
        "w32-d3-from2-canonical-s0",
    ]
    vit = vit_blocks.trial_list(("last:1",), ("both",), ("canonical",), (0,))
    assert [trial_label(t) for t in vit] == ["baseline-s0", "last1-both-canonical-s0"]
    assert trial_label({"eps": 0.012345, "lr": 0.0456}) == "eps0.0123-lr0.0456"


def test_override_columns_are_the_fields_trials_set_in_the_order_first_set():
    base = preset("smoke")
    grid = StudySpec(
        name="g", base=base, trials=tuple(eps_sweep.trial_list((0.1,), ("rotated",), (0,)))
    )
    assert override_columns(grid) == {
        "trial/policy": "policy",
        "trial/seed": "seed",
        "trial/kind": "kind",
        "trial/eps": "eps",
    }
    search = StudySpec(name="s", base=base, space=eps_sweep.search_space(True), num_samples=1)
    assert override_columns(search) == {"eps": "eps", "lr": "lr"}


def test_verbose_0_prints_one_line_per_trial_and_tune_config_holds_only_overrides(tmp_path, capsys):
    spec = StudySpec(
        name="lines",
        base=preset("smoke", dataset="synthetic", epochs=1),
        trials=(
            {"policy": "none", "seed": 0},
            {"policy": "adaptive", "kind": "rotated", "eps": 0.3, "seed": 0},
        ),
    )
    opts = StudyOptions(
        storage=str(tmp_path / "ray"),
        results=str(tmp_path / "results"),
        verbose=0,
        tensorboard=str(tmp_path / "tb"),
    )
    epochs = run_study(spec, opts).epochs
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "after epoch" in ln]
    assert sorted(ln.split(":")[0] for ln in lines) == ["baseline-s0", "eps0.3-rotated-s0"]
    trials = tune.ExperimentAnalysis(str(tmp_path / "ray" / "lines")).trials
    assert sorted(str(t) for t in trials) == ["baseline-s0", "eps0.3-rotated-s0"]
    assert all(set(t.config) == {"trial"} for t in trials)  # no base field beside an override
    assert set(epochs.width) == {spec.base.width} and set(epochs.status) == {"ok"}
    boards = sorted(p.name for p in (tmp_path / "tb").iterdir())  # --tensorboard: one per trial
    assert boards == ["baseline-s0", "eps0.3-rotated-s0"]
    assert all(any((tmp_path / "tb" / b).glob("events.out.tfevents.*")) for b in boards)


def test_studies_stored_before_the_tune_package_still_find_their_trial_name_functions():
    # Tune unpickles these by their old module path when exporting or resuming an old study.
    import pickle

    import nc_core.tune.run as run
    from nc_core import tune_adapter

    assert tune_adapter._trial_name is run._trial_name
    old = pickle.dumps(run._trial_dirname, protocol=0).replace(
        b"nc_core.tune.run", b"nc_core.tune_adapter"
    )
    assert pickle.loads(old) is run._trial_dirname
