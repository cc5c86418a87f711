"""Every comparison the analysis writes is a difference paired by seed over the seeds both arms
have, with its 95% CI and n: the arm beside the paper's number, the controls, the training
curves. Arms with different seed sets are said to be incomplete, and a CI that includes 0 reads
"no difference detected at n=N", never a direction."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from analysis.figures.training import training_curves
from analysis.loading.columns import OPTION_COLUMNS
from analysis.loading.load import Study
from analysis.report.build import build_report
from analysis.report.paper_comparison import chosen_sentence
from analysis.tables.arms import paper_arm, study_keys, study_table
from analysis.tables.kind_pairs import kind_differences
from analysis.tables.stats import Estimate, Paired, comparison, paired, verdict
from nc_core.results.records import to_frames
from nc_core.train.config import RunConfig
from studies.eps_sweep import STUDY
from tests.synthetic_results import fake_run

# Final test accuracy (%) by arm and seed: the rotated arm lacks seed 2, where the baseline
# happens to be high. Unpaired, rotated is 1.1 points under the baseline's mean; paired over
# the seeds both have it is 0.1 under.
FINAL = {
    ("none", "canonical"): {0: 89.0, 1: 89.0, 2: 92.0},
    ("adaptive", "rotated"): {0: 88.8, 1: 89.0},
    ("adaptive", "orthogonal"): {0: 88.0, 1: 90.0, 2: 91.0},
}


@pytest.fixture(scope="module")
def study() -> Study:
    base = RunConfig.of(model="mlp", width=16, depth=4, epochs=3, subset=10, seed=0, eps=0.1)
    epochs, layers = [], []
    for n, ((policy, kind), by_seed) in enumerate(FINAL.items()):
        for seed, acc in by_seed.items():
            cfg = base.replace(policy=policy, kind=kind, seed=seed)
            records = fake_run(cfg)
            records[-1].test_acc = acc / 100
            e, la = to_frames(records, cfg, study="s", trial_id=f"t{n}{seed}")
            epochs.append(e)
            layers.append(la)
    tables = [pd.concat(t) for t in (epochs, layers)]
    for t in tables:  # as loaded: every model's option columns, null for other models
        for col in OPTION_COLUMNS:
            t[col] = t[col] if col in t else None
    return Study("s", *tables, STUDY.type)


def test_the_arm_table_pairs_by_seed_and_says_which_seeds_are_missing(study):
    table = study_table(study)
    rotated = table[table["kind"] == "rotated"].iloc[0]
    assert rotated["n_pairs"] == 2 and rotated["test_acc_diff"] == pytest.approx(-0.1)
    assert rotated["test_acc_mean"] - 90.0 == pytest.approx(-1.1)  # the unpaired gap
    assert rotated["seeds_missing"] == "arm lacks 2"
    assert table.loc[table["method"] == "baseline", "seeds_missing"].iloc[0] == ""
    assert "mode" in study_keys(study) and set(table["mode"]) == {"none", "layer"}


def test_the_rule_chooses_on_the_paired_difference_and_says_its_ci_and_n(study):
    table = study_table(study)
    row = paper_arm(table, "Adaptive-ETF")
    assert row is not None and row["kind"] == "rotated"  # 0.1 under, paired: within 0.5
    text = chosen_sentence(table, "Adaptive-ETF", study_keys(study))
    assert "mode=layer, eps=0.1, kind=rotated" in text
    assert "-0.10 ± 1.27 pp (95% CI, n=2): no difference detected at n=2" in text
    assert "incomplete: arm lacks 2" in text


def test_controls_are_paired_by_seed_with_ci_n_and_incomplete_arms_named(study):
    pairs = kind_differences([study])
    assert list(zip(pairs["etf"], pairs["control"], strict=True)) == [("rotated", "orthogonal")]
    r = pairs.iloc[0]
    assert r["n"] == 2 and r["diff_mean"] == pytest.approx(-0.1) and not r["detected"]
    assert r["comparison"] == (
        "rotated − orthogonal: -0.10 ± 11.44 pp (95% CI, n=2): no difference detected at n=2; "
        "incomplete: rotated lacks seed 2"
    )
    assert r["settings"] == "mode=layer, eps=0.1"
    table = study_table(study)
    text = build_report(
        source="x",
        studies={"s": study},
        tables={"s": table},
        table_notes={"s": ""},
        figures={},
        controls=[],
        pairs=pairs,
    )
    assert "matched cell" not in text and r["comparison"] in text


def test_the_training_curves_compare_final_accuracy_paired_by_seed(study):
    final = study.epochs.groupby("trial_id").tail(1)
    arm = list(final.loc[final["kind"] == "rotated", "trial_id"])
    base = list(final.loc[final["policy"] == "none", "trial_id"])
    fig, note = training_curves(study, [("layer eps=0.1 rotated", "rotated", arm)], base)
    plt.close(fig)
    assert "layer eps=0.1 rotated − baseline: -0.10 ± 1.27 pp (95% CI, n=2)" in note
    assert "incomplete: layer eps=0.1 rotated lacks seed 2" in note


def test_a_difference_is_said_with_its_ci_and_n_and_never_a_direction_without_one():
    one = Paired(Estimate(1.5, math.nan, 1))
    assert verdict(one) == "+1.50 pp (n=1, no CI): no difference detected at n=1"
    wide = Paired(Estimate(-0.4, 0.9, 3))
    assert verdict(wide) == "-0.40 ± 0.90 pp (95% CI, n=3): no difference detected at n=3"
    clear = Paired(Estimate(2.0, 0.5, 3))
    assert verdict(clear) == "+2.00 ± 0.50 pp (95% CI, n=3)" and clear.detected
    assert verdict(Paired(Estimate(math.nan, math.nan, 0))) == "not defined: no seed in common"
    a = pd.DataFrame({"seed": [0, 1, 2], "v": [1.0, 2.0, 3.0]})
    b = pd.DataFrame({"seed": [1, 2, 3], "v": [1.0, 1.0, 1.0]})
    p = paired(a, b, "v")
    assert (p.estimate.n, p.only_a, p.only_b) == (2, (0,), (3,))
    assert comparison(p, "A", "B").endswith("; incomplete: A lacks seed 3, B lacks seed 0")


def test_pairs_in_which_neither_arm_fixed_a_layer_are_left_out_and_counted(study):
    from analysis.tables.kind_pairs import markdown_pairs, pairs_sentence

    pairs = kind_differences([study])
    assert pairs["fixed_any"].all()
    none_fixed = pairs.assign(fixed_any=False)
    assert pairs_sentence(none_fixed).startswith("No pair of an ETF kind and a control")
    assert "1 pair in which neither arm fixed a layer left out" in markdown_pairs(none_fixed)
    both = pd.concat([pairs, none_fixed], ignore_index=True)
    assert pairs_sentence(both).startswith("1 comparison of an ETF kind with a control")
    assert pairs_sentence(both).endswith("; 1 pair in which neither arm fixed a layer left out.")
