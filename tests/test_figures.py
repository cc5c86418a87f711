"""Figures and statistics by content, not bytes: each figure function returns its Figure, and
its axis labels, integer epoch ticks, legend entries, lines per arm and label boxes are read
back from it; the arm beside the paper's number follows the stated rule."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from analysis.figures.collapse import collapse_over_epochs, depth_profiles
from analysis.figures.kinds import controls
from analysis.figures.labels import overlapping, text_box
from analysis.figures.tradeoff import tradeoff
from analysis.figures.training import training_curves
from analysis.figures.vit import vit_accuracy, vit_profile
from analysis.loading.load import Study
from analysis.loading.study_type import infer_type
from analysis.report.build import build_report
from analysis.report.paper_comparison import chosen_sentence
from analysis.tables.arms import paper_arm, study_table
from analysis.tables.controls import controls as controls_table
from analysis.tables.stats import count, mean_ci, paired_difference, t975
from nc_core.fixing.etf import FIXED_KINDS
from tests.synthetic_results import make_results


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    from analysis.loading.load import load_all

    root = make_results(tmp_path_factory.mktemp("figs") / "results")
    return load_all(root)


def tick_values(ax) -> list[float]:
    return [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]


def legend_texts(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_study_kind_is_inferred_from_the_tables(studies):
    assert {n: s.kind for n, s in studies.items()} == {
        "depth_width": "depth_width",
        "eps_sweep": "eps_sweep",
        "vit_blocks": "vit_blocks",
    }
    assert infer_type(pd.DataFrame({"model": ["mlp"], "policy": ["none"]})) is None


def test_tradeoff_labels_every_arm_with_eps_and_kind_without_overlap_or_clipping(studies):
    fig, note = tradeoff(studies["eps_sweep"])
    assert isinstance(fig, Figure) and "Pareto front" in note
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("trainable parameters")
    assert ax.get_ylabel() == "final test accuracy (%)"
    labels = {t.get_text() for t in ax.texts}
    want = {f"layer eps={e:g} {k}" for e in (0.05, 0.1) for k in ("canonical", "rotated", "freeze")}
    assert labels == want | {"baseline"}
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert overlapping(ax.texts, renderer) == []
    frame = fig.bbox
    for t in ax.texts:
        box = text_box(t, renderer)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, f"{t.get_text()} clipped"
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, f"{t.get_text()} clipped"
    plt.close(fig)


def test_tradeoff_labels_stay_apart_when_arms_crowd_one_spot(studies):
    s = studies["eps_sweep"]
    crowded = s.epochs.assign(trainable_params=1000, test_acc=0.8)  # every arm on one point
    fig, _ = tradeoff(Study("crowd", crowded, s.layers, s.type))
    fig.canvas.draw()
    assert overlapping(fig.axes[0].texts, fig.canvas.get_renderer()) == []
    plt.close(fig)


def test_controls_leave_out_zero_fixed_cells_and_show_every_kind(studies):
    table = controls_table(list(studies.values()))
    cells = table[table["arm"] != "baseline"]
    assert (cells["layers_fixed"] > 0).all()
    fig, _ = controls(table)
    texts = legend_texts(fig)
    not_run = " ".join(t.get_text() for ax in fig.axes for t in ax.texts if "not run" in t.get_text())
    drawn = set(table["arm"]) - {"baseline"}
    for kind in FIXED_KINDS:  # a kind drawn is in the legend; one absent is said "not run"
        named = any(kind in t or (kind == "orthogonal" and "isometry" in t) for t in texts)
        assert named == (kind in drawn), kind
        assert kind in drawn or kind in not_run, kind
    for ax in [a for a in fig.axes if a.get_xlabel()]:
        ticks = tick_values(ax)
        assert 0 not in ticks and all(float(t).is_integer() for t in ticks)
    plt.close(fig)


def test_controls_draw_no_line_across_a_missing_count():
    rows = [
        dict(study="s", layers_fixed=n, arm="canonical", n=2, test_acc_mean=80.0 + n,
             test_acc_std=1.0, test_acc_ci95=2.0, train_acc_mean=90.0)
        for n in (1, 2, 4)
    ] + [dict(study="s", layers_fixed=np.nan, arm="baseline", n=2, test_acc_mean=85.0,
              test_acc_std=1.0, test_acc_ci95=2.0, train_acc_mean=95.0)]  # fmt: skip
    fig, note = controls(pd.DataFrame(rows))
    ax = fig.axes[0]
    blue = [
        ln
        for ln in ax.get_lines()
        if ln.get_color() == "#1f77b4" and ln.get_marker() == "o"  # not the bars' caps
    ]
    runs = sorted(sorted(round(float(x)) for x in ln.get_xdata()) for ln in blue)
    assert runs == [[1, 2], [4]]  # 2 -> 4 is not joined
    assert [int(t) for t in tick_values(ax)] == [1, 2, 4]
    assert "not run: rotated, orthogonal, freeze" in [t.get_text() for t in ax.texts]
    plt.close(fig)


def test_collapse_over_epochs_has_integer_epoch_ticks_and_one_line_per_layer(studies):
    s = studies["eps_sweep"]
    final = s.epochs.groupby("trial_id").tail(1)
    base = list(final.loc[final["policy"] == "none", "trial_id"])
    arm = list(final.loc[(final["kind"] == "canonical") & np.isclose(final["eps"], 0.1)
                         & (final["policy"] == "adaptive"), "trial_id"])  # fmt: skip
    fig, note = collapse_over_epochs(s.layers, [("baseline", base), ("eps=0.1 canonical", arm)])
    assert isinstance(fig, Figure) and "Layers fixed" in note
    axes = np.array(fig.axes).reshape(-1, 2)
    layers = sorted(s.layers["layer"].unique())
    assert axes[0, 0].get_ylabel().replace("\n", " ") == "NCC accuracy, train (%)"
    assert axes[-1, 0].get_xlabel() == "epoch"
    assert all(float(t).is_integer() for t in tick_values(axes[-1, 0]))
    solid = [ln for ln in axes[0, 0].get_lines() if ln.get_linestyle() == "-"]
    assert len(solid) == len(layers)  # the baseline fixes nothing: one solid line per layer
    dashed = [ln for ln in axes[0, 1].get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) >= 1  # the arm fixed layers: their tails are dashed
    assert set(layers) <= set(legend_texts(fig))
    assert axes[0, 0].get_title() == "baseline (n=3)"
    plt.close(fig)


def test_depth_profiles_draw_fixed_layers_hollow_and_name_the_arms(studies):
    s = studies["depth_width"]
    final = s.epochs.groupby("trial_id").tail(1)
    sel = final[final["mlp_width"] == 64]
    arms = [
        ("baseline", "baseline", list(sel.loc[sel["policy"] == "none", "trial_id"])),
        ("from layer 2 canonical", "canonical",
         list(sel.loc[(sel["fix_from"] == 2) & (sel["kind"] == "canonical"), "trial_id"])),
    ]  # fmt: skip
    fig, note = depth_profiles(s.layers, arms, eps=0.1)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "layer"
    assert ax.get_ylabel().replace("\n", " ") == "NCC accuracy, train (%)"
    hollow = [ln for ln in ax.get_lines() if ln.get_markerfacecolor() == "white"]
    assert len(hollow) == 1 and len(hollow[0].get_xdata()) == 4  # fc3..classifier fixed
    texts = legend_texts(fig)
    assert "baseline (n=2)" in texts and "from layer 2 canonical (n=2)" in texts
    assert "effective depth" in note
    plt.close(fig)


def test_training_curves_mark_each_fixing_epoch_with_integer_ticks(studies):
    s = studies["eps_sweep"]
    final = s.epochs.groupby("trial_id").tail(1)
    ok = final[final["status"] == "ok"]
    adaptive = ok[ok["policy"] == "adaptive"]
    arm = list(
        adaptive.loc[
            (adaptive["kind"] == "canonical") & np.isclose(adaptive["eps"], 0.1), "trial_id"
        ]
    )
    base = list(ok.loc[ok["policy"] == "none", "trial_id"])
    fig, note = training_curves(s, [("eps=0.1 canonical", "canonical", arm)], base)
    top, bottom = fig.axes[0], fig.axes[1]
    assert bottom.get_xlabel() == "epoch"
    assert all(float(t).is_integer() for t in tick_values(bottom))
    vlines = [ln for ln in top.get_lines() if ln.get_linestyle() == ":"]
    assert len(vlines) >= 1 and "fixed" in note
    assert {t.get_text() for t in top.get_legend().get_texts()} == {
        "eps=0.1 canonical, train (n=3)",
        "eps=0.1 canonical, test (n=3)",
        "baseline, train (n=3)",
        "baseline, test (n=3)",
    }
    plt.close(fig)


def test_vit_figures_have_a_panel_per_linears_and_every_kind(studies):
    s = studies["vit_blocks"]
    fig, _ = vit_profile(s)
    titles = {ax.get_title() for ax in fig.axes if ax.get_title()}
    assert titles == {"feedforward linears fixed: both", "feedforward linears fixed: fc1"}
    plt.close(fig)
    fig, _ = vit_accuracy(s)
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(panels) == 2
    assert all(ax.get_xlabel() == "blocks with fixed feedforward linears" for ax in panels)
    assert "ETF, canonical" in legend_texts(fig)  # the kinds run; the others said "not run"
    assert any("orthogonal" in t.get_text() for ax in panels for t in ax.texts)
    plt.close(fig)


# --- statistics and the rule ---------------------------------------------------------------


def test_t_quantile_and_interval_match_closed_forms():
    assert t975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t975(60) == pytest.approx(2.0003, abs=1e-3)
    est = mean_ci([1.0, 2.0, 3.0])
    assert est.mean == 2.0 and est.n == 3
    assert est.ci == pytest.approx(4.3027 * 1.0 / math.sqrt(3), rel=1e-6)
    assert math.isnan(mean_ci([5.0]).ci) and mean_ci([5.0]).text() == "5.00 (n=1)"
    assert count(1, "seed") == "1 seed" and count(3, "seed") == "3 seeds"


def test_difference_to_baseline_is_paired_by_seed():
    arm = pd.DataFrame({"seed": [0, 1, 2], "v": [10.0, 20.0, 31.0]})
    base = pd.DataFrame({"seed": [0, 1, 3], "v": [9.0, 18.0, 0.0]})
    d = paired_difference(arm, base, "v")
    assert (d.mean, d.n) == (1.5, 2)  # seeds 0 and 1 only: (1 + 2) / 2


def rule_table(rows) -> pd.DataFrame:
    """An arm table of (method, paired difference to the baseline, trainable, layers fixed)."""
    cols = ["method", "test_acc_diff", "trainable_params_mean", "layers_fixed_mean", "kind"]
    table = pd.DataFrame([(*r, "none" if r[0] == "baseline" else "canonical") for r in rows],
                         columns=cols)  # fmt: skip
    return table.assign(test_acc_mean=89.0 + table["test_acc_diff"], n_pairs=3)


def test_paper_arm_is_the_most_parameters_fixed_within_half_a_point_never_a_no_fix_arm():
    table = rule_table(
        [
            ("baseline", 0.0, 1000, 0.0),
            ("Adaptive-ETF", 0.9, 1000, 0.0),  # best accuracy but fixed nothing
            ("Adaptive-ETF", -0.3, 700, 1.0),  # within 0.5
            ("Adaptive-ETF", -0.45, 500, 2.0),  # within 0.5, most fixed: chosen
            ("Adaptive-ETF", -0.6, 200, 3.0),  # 0.6 below: out
        ]
    )
    assert paper_arm(table, "Adaptive-ETF")["trainable_params_mean"] == 500
    control = table.assign(kind=["none", "canonical", "canonical", "freeze", "canonical"])
    assert paper_arm(control, "Adaptive-ETF")["trainable_params_mean"] == 700  # not a control
    only_no_fix = table.iloc[:2]
    assert paper_arm(only_no_fix, "Adaptive-ETF") is None


def test_report_states_n_and_the_rule_and_never_writes_1_seeds(studies):
    one = {
        "eps_sweep": Study(
            "eps_sweep",
            studies["eps_sweep"].epochs.query("seed == 0"),
            studies["eps_sweep"].layers.query("seed == 0"),
            studies["eps_sweep"].type,
        )
    }
    tables = {"eps_sweep": study_table(one["eps_sweep"])}
    keys = studies["eps_sweep"].type.table_keys
    notes = {"eps_sweep": chosen_sentence(tables["eps_sweep"], "Adaptive-ETF", keys)}
    text = build_report(
        source="x", studies=one, tables=tables, table_notes=notes, figures={}, controls=[]
    )
    assert "1 seeds" not in text and "1 seed [0]" in text
    assert "most parameters fixed" in text and "(n=1)" in text


def test_a_figure_saved_twice_is_the_same_bytes_and_carries_no_time(studies, tmp_path):
    from PIL import Image

    from analysis.figures.save import save_figure

    paths = [save_figure(tradeoff(studies["eps_sweep"])[0], tmp_path / d, "t") for d in "ab"]
    assert paths[0].read_bytes() == paths[1].read_bytes()
    with Image.open(paths[0]) as image:
        assert set(image.text) == {"Software"}  # matplotlib's version only, no date
