"""The studies at smoke size under one local Ray of 2 CPUs: the tables and console of each
study script, and the Optuna search.

Every test here shares the session's Ray (`ray_session`, tests/conftest.py); `run_study` joins
it instead of starting its own. Crashes, kills and reruns are tests/test_study_failures.py.
"""

from __future__ import annotations

import optuna
import pandas as pd
import pytest
from ray import tune
from ray.tune.utils.log import set_verbosity

from nc_core.data.fashion_mnist import DataError, load_fashion_mnist
from nc_core.study.spec import StudyOptions, StudySpec
from nc_core.train.presets import preset
from nc_core.tune.run import run_study
from studies import depth_width, eps_sweep, vit_blocks
from tests.study_helpers import canonical, check_tables, common, read_tables

pytestmark = pytest.mark.usefixtures("ray_session")


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


def test_eps_sweep_smoke_tables_one_row_per_trial_epoch_and_layer_and_readable_console(
    tmp_path, mlp_dataset, capsys
):
    set_verbosity(0)  # as a `--verbose 0` study earlier in this process leaves Tune
    eps_sweep.main(canonical(tmp_path, "--dataset", mlp_dataset, "--verbose", "2"))
    # --verbose 2: Tune's table names each trial and shows each override it sets in a column of
    # its own, nothing cut short ("...") and no column of the whole override dict
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
    # a plain groupby never merges the baseline into an arm: its eps, kind and mode are null
    for table in (epochs, layers):
        base = table[table.policy == "none"]
        assert len(base) and base.eps.isna().all() and base.kind.isna().all()
        assert base["mode"].isna().all()
        grouped = table.groupby(["kind", "eps"]).policy.unique()
        assert grouped.map(lambda policies: list(policies) == ["adaptive"]).all()
    # each row names its trial as the console does: one name per trial id, in both tables
    assert set(epochs.trial_name) == names and set(layers.trial_name) == names
    assert (epochs.groupby("trial_id").trial_name.nunique() == 1).all()
    last = epochs[epochs.epoch == epochs.epoch.max()]
    assert sorted(last[last.policy == "adaptive"].eps) == sorted(eps_sweep.SMOKE_EPS)
    assert (last.study == "eps_sweep-smoke").all() and (
        last.trainable_params <= last.total_params
    ).all()

    # --export-only rebuilds the same tables from storage, training nothing
    (tmp_path / "results" / "eps_sweep-smoke" / "epochs.parquet").unlink()
    eps_sweep.main(canonical(tmp_path, "--dataset", mlp_dataset, "--export-only"))
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
    params = epochs.groupby("vit_etf_blocks").trainable_params.max()
    assert params["all"] < params["last:1"] < params["none"]


def test_eps_sweep_optuna_search_saves_pareto_front(tmp_path):
    search = "--dataset synthetic --search optuna --search-lr --num-samples 3 --set epochs=2"
    eps_sweep.main(common(tmp_path, search))  # the search runs one kind, canonical, by default
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

    # Optuna's own study, in its SQLite storage beside the tables: what optuna.load_study and
    # optuna-dashboard open. One finished Optuna trial per Tune trial, with its eps and values.
    db = tmp_path / "results" / "eps_sweep_optuna-smoke" / "optuna.db"
    study = optuna.load_study(study_name="eps_sweep_optuna-smoke", storage=f"sqlite:///{db}")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 3 and [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    by_eps = last.set_index("eps")
    for trial in done:
        row = by_eps.loc[trial.params["eps"]]
        assert trial.values == pytest.approx([row.test_acc, row.trainable_params])


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
    assert set(epochs.mlp_width) == {spec.base.arch.width} and set(epochs.status) == {"ok"}
    boards = sorted(p.name for p in (tmp_path / "tb").iterdir())  # --tensorboard: one per trial
    assert boards == ["baseline-s0", "eps0.3-rotated-s0"]
    assert all(any((tmp_path / "tb" / b).glob("events.out.tfevents.*")) for b in boards)
