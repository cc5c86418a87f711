"""Collecting single-run tables into one study's tables: ids filled, schemas checked first."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.loading.load import load_study
from nc_core.cli.train import main as train_main
from nc_core.results.collect import main as collect_main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two one-epoch synthetic runs written by `python -m nc_core.train --out`."""
    folder = tmp_path_factory.mktemp("runs")
    for name, seed in (("base", "0"), ("adaptive", "1")):
        args = ["--preset", "smoke", "--dataset", "synthetic", "--epochs", "1", "--quiet"]
        args += ["--device", "cpu", "--seed", seed, "--out", str(folder / f"{name}.parquet")]
        assert train_main(args) == 0
    return folder


def test_collected_study_has_every_run_with_study_and_trial_id_filled(runs, tmp_path):
    out = tmp_path / "results" / "pair"
    assert collect_main(["--study", "pair", "--out", str(out), str(runs / "*.parquet")]) == 0
    study = load_study(tmp_path / "results", "pair")  # the layout analysis reads
    single = {s: pd.read_parquet(runs / f"{s}.parquet") for s in ("base", "adaptive")}
    assert len(study.epochs) == sum(len(df) for df in single.values())
    assert set(study.epochs.trial_id) == set(study.layers.trial_id) == {"base", "adaptive"}
    assert (study.epochs.study == "pair").all() and (study.layers.study == "pair").all()
    written = pd.read_parquet(out / "epochs.parquet")
    assert list(written.columns) == list(single["base"].columns)
    assert set(single["base"].columns) <= set(study.epochs.columns)  # + other models' options
    seeds = study.epochs.groupby("trial_id").seed.first().to_dict()
    assert seeds == {"base": 0, "adaptive": 1}


def test_mismatched_schema_is_one_line_and_exit_2_with_nothing_written(runs, tmp_path, capsys):
    odd = pd.read_parquet(runs / "base.parquet").drop(columns=["pred_entropy"])
    odd.to_parquet(tmp_path / "odd.parquet")
    (tmp_path / "odd.layers.parquet").write_bytes((runs / "base.layers.parquet").read_bytes())
    out = tmp_path / "out"
    args = ["--study", "s", "--out", str(out), str(runs / "base.parquet")]
    assert collect_main(args + [str(tmp_path / "odd.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing ['pred_entropy']" in err and "odd.parquet" in err
    assert not out.exists()


@pytest.mark.parametrize("case", ["no layers table", "same stem twice", "output exists"])
def test_refusals_are_exit_2_before_writing(runs, tmp_path, capsys, case):
    out = tmp_path / "out"
    tables = [str(runs / "base.parquet")]
    if case == "no layers table":
        pd.read_parquet(runs / "base.parquet").to_parquet(tmp_path / "lonely.parquet")
        tables.append(str(tmp_path / "lonely.parquet"))
    elif case == "same stem twice":
        (tmp_path / "base.parquet").write_bytes((runs / "base.parquet").read_bytes())
        tables.append(str(tmp_path / "base.parquet"))
    else:
        out.mkdir()
        (out / "epochs.parquet").write_text("kept")
    assert collect_main(["--study", "s", "--out", str(out), *tables]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert case == "output exists" or not out.exists()
    if case == "output exists":
        assert (out / "epochs.parquet").read_text() == "kept"
