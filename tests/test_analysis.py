"""analysis/: the whole pipeline on a small synthetic results set built with nc_core.records.

The set has the three studies (eps_sweep with a baseline and Adaptive-ETF of every kind over
seeds and one diverged trial, depth_width with StaticETF, vit_blocks with ETF-Transformer), so
every table and figure has something to draw; the tests check files, numbers and failure modes.
"""

from __future__ import annotations

import math
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.load import load_study
from analysis.make_figures import main
from analysis.parquet_tables import ResultsSchemaError
from analysis.trials import fix_schedule
from nc_core.config import RunConfig
from nc_core.depth import effective_depths
from nc_core.records import EpochRecord, LayerRecord, to_frames, write_parquet_atomic

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 8


def layer_names(cfg: RunConfig) -> list[str]:
    if cfg.model == "vit":
        return [f"blocks.{i}" for i in range(cfg.vit_depth)] + ["head"]
    return [f"fc{i}" for i in range(1, cfg.depth)] + ["classifier"]


def fake_run(
    cfg: RunConfig, *, diverge: bool = False, static_from: int | None = None, fixed_vit: int = 0
) -> list[EpochRecord]:
    """Plausible records: deeper layers collapse sooner; Adaptive-ETF fixes a layer (deepest
    first, patience 1) once its train NCC error is <= eps; each fixed layer drops its params."""
    rng = np.random.default_rng(zlib.crc32(repr(cfg).encode()))
    names = layer_names(cfg)
    L = len(names)
    per_layer = (cfg.vit_dim**2 * 2 * cfg.vit_mlp_ratio) if cfg.model == "vit" else cfg.width**2
    total = per_layer * L + 5000
    fixed: dict[str, int] = {}
    if static_from is not None:
        fixed = {n: 0 for n in names[static_from:]}
    fixed.update({n: 0 for n in names[:fixed_vit]})
    records = []
    kind_gap = {"canonical": 0.0, "rotated": 0.004, "freeze": 0.012}[cfg.kind]
    for epoch in range(1, EPOCHS + 1):
        layers = {}
        for i, name in enumerate(names):
            err = 0.6 * math.exp(-epoch * (i + 1) / (0.8 * L)) + 0.02 * rng.random()
            layers[name] = LayerRecord(
                index=i,
                train_ncc_acc=1 - err,
                test_ncc_acc=1 - err - 0.05 - 0.02 * rng.random(),
                nc1=err,
                nc2_equinorm=0.1,
                nc2_equiangle=0.1,
                etf_distance=err,
                nc3=0.2 if i == L - 1 else math.nan,
                nc4=0.01 if i == L - 1 else math.nan,
                fixed_as=cfg.kind if name in fixed else "",
                fixed_epoch=fixed.get(name, -1),
            )
        if cfg.policy == "adaptive":  # deepest first, contiguous from the classifier
            for i in reversed(range(L)):
                name = names[i]
                if name in fixed:
                    continue
                if 1 - layers[name].train_ncc_acc > cfg.eps:
                    break
                fixed[name] = epoch
                layers[name].fixed_as, layers[name].fixed_epoch = cfg.kind, epoch
        n_fixed = len(fixed)
        train = min(0.99, 0.70 + 0.035 * epoch - 0.3 * kind_gap * n_fixed + 0.01 * rng.random())
        test = train - 0.08 - 0.01 * rng.random()
        if diverge and epoch >= EPOCHS - 2:
            train = test = math.nan
        records.append(
            EpochRecord(
                epoch=epoch,
                train_loss=1 - train,
                train_acc=train,
                test_loss=1 - test,
                test_acc=test,
                epoch_lr=cfg.lr,
                trainable_params=total - per_layer * n_fixed,
                total_params=total,
                optimizer_state_bytes=8 * (total - per_layer * n_fixed),
                epoch_seconds=1.0,
                eval_seconds=0.1,
                fixed_layers=list(fixed),
                layers=layers,
            )
        )
    return records


def write_study(root: Path, study: str, runs: list[tuple[RunConfig, dict]]) -> None:
    frames = []
    for n, (cfg, kw) in enumerate(runs):
        status = "diverged" if kw.get("diverge") else "ok"
        frames.append(
            to_frames(
                fake_run(cfg, **kw), cfg, study=study, trial_id=f"{study}_{n:03d}", status=status
            )
        )
    write_parquet_atomic(pd.concat([f[0] for f in frames]), root / study / "epochs.parquet")
    write_parquet_atomic(pd.concat([f[1] for f in frames]), root / study / "layers.parquet")


def make_results(root: Path, studies=("eps_sweep", "depth_width", "vit_blocks")) -> Path:
    base = RunConfig(model="mlp", width=64, depth=6, epochs=EPOCHS, subset=100, seed=0)
    if "eps_sweep" in studies:
        runs = [(base.replace(seed=s), {}) for s in range(3)]
        runs += [
            (
                base.replace(policy="adaptive", eps=eps, kind=kind, seed=s),
                {"diverge": (eps, kind, s) == (0.05, "rotated", 2)},
            )
            for eps in (0.05, 0.1)
            for kind in ("canonical", "rotated", "freeze")
            for s in range(3)
        ]
        write_study(root, "eps_sweep", runs)
    if "depth_width" in studies:
        runs = []
        for width in (32, 64):
            cfg = base.replace(width=width, eps=0.1)
            runs += [(cfg.replace(seed=s), {}) for s in range(2)]
            runs += [
                (cfg.replace(policy="static", fix_from=f, kind=k, seed=s), {"static_from": f})
                for f in (2, 4)
                for k in ("canonical", "freeze")
                for s in range(2)
            ]
        write_study(root, "depth_width", runs)
    if "vit_blocks" in studies:
        vit = RunConfig(
            model="vit", vit_depth=4, vit_dim=32, vit_heads=2, epochs=EPOCHS, subset=30, seed=0
        )
        runs = [(vit.replace(seed=s), {}) for s in range(2)]
        runs += [
            (
                vit.replace(etf_blocks=b, etf_linears=lin, seed=s),
                {"fixed_vit": 4 if b == "all" else 2},
            )
            for b in ("all", "first:2")
            for lin in ("fc1", "both")
            for s in range(2)
        ]
        write_study(root, "vit_blocks", runs)
    return root


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
    assert "By the rule, Adaptive-ETF eps=" in report  # the arm chosen by the stated rule
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
    arms = set(zip(final["etf_blocks"], final["etf_linears"], strict=True)) - {("none", "both")}
    assert set(table["method"]) == {"baseline", "ETF-Transformer"}
    got = table[table["method"] == "ETF-Transformer"]
    assert set(zip(got["etf_blocks"], got["etf_linears"], strict=True)) == arms


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


# --- the small pieces ----------------------------------------------------------------------


def test_effective_depth_is_the_first_layer_of_the_suffix_within_eps():
    layers = pd.DataFrame(
        {
            "trial_id": ["a"] * 4 + ["b"] * 2,
            "epoch": [1] * 4 + [1] * 2,
            "layer_index": [0, 1, 2, 3, 0, 1],
            "train_ncc_acc": [0.5, 0.95, 0.8, 0.99, 0.5, 0.6],
        }
    )
    depth = effective_depths(layers, 0.1)
    assert depth[("a", 1)] == 3  # index 1 is within eps but index 2 is not: the suffix is 3
    assert pd.isna(depth[("b", 1)])


def test_fix_schedule_gives_median_epoch_and_partial_counts():
    fixes = pd.DataFrame(
        {
            "trial_id": ["a", "b", "a", "b", "a"],
            "layer": ["fc5", "fc5", "fc4", "fc4", "fc3"],
            "layer_index": [4, 4, 3, 3, 2],
            "epoch": [2, 4, 5, 7, 9],
        }
    )
    assert fix_schedule(fixes, ["a", "b"]) == "fc5@3, fc4@6, fc3@9 (1/2)"
    assert fix_schedule(fixes, ["c"]) == ""
