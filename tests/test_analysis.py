"""analysis/: the whole pipeline on the small synthetic results set of tests/synthetic_results.py
(the three studies, so every table and figure has something to draw); the tests check files,
numbers and failure modes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.loading.load import load_study
from analysis.loading.parquet_tables import ResultsSchemaError
from analysis.make_figures import main
from nc_core.results.atomic import write_parquet_atomic
from tests.synthetic_results import make_results

REPO = Path(__file__).resolve().parents[1]


# --- the pipeline on the full synthetic set ------------------------------------------------

TABLES = ["eps_sweep_table", "depth_width_table", "vit_blocks_table", "controls"]
FIGURES = [
    "depth_width_ncc_per_layer",
    "depth_width_collapse_epochs",
    "depth_width_depth_profile_w32_d6",
    "eps_sweep_collapse_epochs",
    "eps_sweep_geometry_epochs",
    "eps_sweep_depth_profile",
    "eps_sweep_training",
    "eps_sweep_ncc_heatmap",
    "eps_sweep_tradeoff",
    "vit_blocks_vit_profile",
    "vit_blocks_vit_accuracy",
    "controls",
]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """(results, out, exit code) of one in-process run over all three studies, with --pdf."""
    root = tmp_path_factory.mktemp("analysis")
    results = make_results(root / "results")
    out = root / "figures"
    code = main(["--results", str(results), "--out", str(out), "--pdf"])
    return results, out, code


def test_pipeline_writes_every_table_figure_and_the_report(full_run):
    _, out, code = full_run
    assert code == 0
    expected = [f"{t}.{ext}" for t in TABLES for ext in ("csv", "md")]
    expected += [f"{f}.{ext}" for f in FIGURES for ext in ("png", "pdf")] + ["REPORT.md"]
    for name in expected:
        assert (out / name).stat().st_size > 0, name
    for f in FIGURES:
        assert (out / f"{f}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.tmp")), "a temporary file was left behind"


def test_report_embeds_every_figure_and_sets_paper_numbers_beside_ours(full_run):
    _, out, _ = full_run
    report = (out / "REPORT.md").read_text()
    for f in FIGURES:
        assert f"]({f}.png)" in report
    for number in ("98.09", "89.38", "93.23", "89.78", "93.91"):
        assert number in report
    assert "By the rule, Adaptive-ETF mode=layer, eps=" in report  # the arm the rule chose
    assert "8 epochs" in report and "first 100 train images per class" in report
    assert "eps_sweep_008" in report and "diverged" in report  # listed, not averaged
    assert "1 seeds" not in report and "(n=" in report
    assert "## Reproduction notes" in report and "if 'phase' == 'train':" in report


def final_by_pandas(results: Path, study: str) -> pd.DataFrame:
    ep = pd.read_parquet(results / study / "epochs.parquet")
    return ep.loc[ep.groupby("trial_id")["epoch"].idxmax()]


def test_table1_csv_equals_numbers_computed_with_pandas_from_the_parquet(full_run):
    results, out, _ = full_run
    table = pd.read_csv(out / "eps_sweep_table.csv")
    final = final_by_pandas(results, "eps_sweep")
    ok = final[final["status"] == "ok"]
    base = ok[ok["policy"] == "none"]
    row = table[table["method"] == "baseline"].iloc[0]
    assert row["n_seeds"] == len(base) == 3
    assert row["test_acc_mean"] == pytest.approx(100 * base["test_acc"].mean())
    assert row["train_acc_std"] == pytest.approx(100 * base["train_acc"].std())
    assert row["params_reduction_pct"] == pytest.approx(0.0)
    arms = ok[ok["policy"] == "adaptive"].groupby(["eps", "kind"])
    assert len(table) == 1 + arms.ngroups
    for (eps, kind), g in arms:
        row = table[np.isclose(table["eps"], eps) & (table["kind"] == kind)].iloc[0]
        assert row["method"] == "Adaptive-ETF"
        assert row["n_seeds"] == g["seed"].nunique()
        assert row["train_acc_mean"] == pytest.approx(100 * g["train_acc"].mean())
        assert row["train_acc_std"] == pytest.approx(100 * g["train_acc"].std())
        assert row["test_acc_mean"] == pytest.approx(100 * g["test_acc"].mean())
        assert row["test_acc_std"] == pytest.approx(100 * g["test_acc"].std())
        assert row["trainable_params_mean"] == pytest.approx(g["trainable_params"].mean())
        assert row["layers_fixed_mean"] == pytest.approx(g["layers_fixed"].mean())
        reduction = 100 * (1 - g["trainable_params"].mean() / base["trainable_params"].mean())
        assert row["params_reduction_pct"] == pytest.approx(reduction)
        excluded = final[
            (final["eps"] == eps)
            & (final["kind"] == kind)
            & (final["policy"] == "adaptive")
            & (final["status"] != "ok")
        ]
        assert row["excluded"] == len(excluded)


def test_diverged_trial_is_excluded_from_its_arm_and_counted(full_run):
    _, out, _ = full_run
    table = pd.read_csv(out / "eps_sweep_table.csv")
    row = table[np.isclose(table["eps"], 0.05) & (table["kind"] == "rotated")].iloc[0]
    assert (row["n_seeds"], row["excluded"]) == (2, 1)
    assert np.isfinite(row["test_acc_mean"])


def test_table2_has_baseline_and_every_static_etf_arm(full_run):
    results, out, _ = full_run
    table = pd.read_csv(out / "vit_blocks_table.csv")
    final = final_by_pandas(results, "vit_blocks")
    blocks, linears = final["vit_etf_blocks"], final["vit_etf_linears"]
    arms = set(zip(blocks, linears, strict=True)) - {("none", "both")}
    assert set(table["method"]) == {"baseline", "ETF-Transformer"}
    got = table[table["method"] == "ETF-Transformer"]
    assert set(zip(got["vit_etf_blocks"], got["vit_etf_linears"], strict=True)) == arms


# --- failure modes -------------------------------------------------------------------------


def test_only_the_studies_found_are_analysed_when_run_as_a_script(tmp_path):
    results = make_results(tmp_path / "results", studies=("eps_sweep",))
    out = tmp_path / "figures"
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "analysis" / "make_figures.py"),
            "--results",
            str(results),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )
    assert run.returncode == 0, run.stderr
    assert "eps_sweep: eps_sweep (inferred from the tables)" in run.stdout
    assert (out / "eps_sweep_table.csv").exists() and not (out / "vit_blocks_table.csv").exists()
    assert not (out / "depth_width_ncc_per_layer.png").exists()
    report = (out / "REPORT.md").read_text()
    assert "**eps_sweep**" in report and "vit_blocks" not in report.split("## The paper")[0]


def test_a_study_under_any_name_is_analysed_by_its_kind(tmp_path):
    results = make_results(tmp_path / "results", studies=("depth_width",))
    (results / "depth_width").rename(results / "my_depths")
    out = tmp_path / "figures"
    assert main(["--results", str(results), "--study", "my_depths", "--out", str(out)]) == 0
    assert (out / "my_depths_ncc_per_layer.png").exists()
    assert "StaticETF" in (out / "REPORT.md").read_text()


def test_parquet_without_a_column_is_a_clear_error_naming_file_and_column(tmp_path, capsys):
    results = make_results(tmp_path / "results", studies=("eps_sweep", "depth_width"))
    path = results / "depth_width" / "epochs.parquet"
    write_parquet_atomic(pd.read_parquet(path).drop(columns=["test_acc"]), path)
    with pytest.raises(ResultsSchemaError, match="test_acc") as err:
        load_study(results, "depth_width")
    assert str(path) in str(err.value)
    out = tmp_path / "figures"
    assert main(["--results", str(results), "--out", str(out)]) == 2
    stderr = capsys.readouterr().err
    assert str(path) in stderr and "'test_acc'" in stderr
    assert not out.exists(), "nothing is written before the inputs are checked"


def test_unreadable_parquet_is_a_clear_error(tmp_path, capsys):
    results = make_results(tmp_path / "results", studies=("eps_sweep",))
    path = results / "eps_sweep" / "layers.parquet"
    path.write_bytes(b"not a parquet file")
    assert main(["--results", str(results), "--out", str(tmp_path / "figures")]) == 2
    assert str(path) in capsys.readouterr().err


def test_missing_results_folder_exits_2(tmp_path, capsys):
    assert main(["--results", str(tmp_path / "nowhere"), "--out", str(tmp_path / "f")]) == 2
    assert "nowhere" in capsys.readouterr().err
