"""analysis/trials.py: trial-level views of the tidy tables."""

from __future__ import annotations

import pandas as pd

from analysis.tables.trials import fix_schedule


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


def test_the_per_layer_figures_are_drawn_at_an_eps_where_layers_were_fixed():
    from analysis.tables.trials import eps_choice

    def final(fixed: dict[float, list[int]]) -> pd.DataFrame:
        rows = [{"policy": "none", "eps": None, "layers_fixed": 0}]
        for eps, counts in fixed.items():
            rows += [{"policy": "adaptive", "eps": eps, "layers_fixed": n} for n in counts]
        return pd.DataFrame(rows)

    nothing_at_default = final({0.1: [0, 0], 0.3: [3, 3], 0.05: [0, 0]})
    eps, why = eps_choice(nothing_at_default, None)
    assert eps == 0.3 and "chosen from the data" in why and "(2)" in why
    assert eps_choice(nothing_at_default, 0.05) == (0.05, "given by --eps")
    assert eps_choice(final({0.1: [1, 0], 0.3: [3, 3]}), None)[0] == 0.1  # fixed at the default
    assert eps_choice(final({0.05: [2], 0.2: [2], 0.3: [2]}), None)[0] == 0.05  # nearest of ties
    assert eps_choice(final({0.1: [0], 0.3: [0]}), None)[0] == 0.1  # none fixed: the default
    assert eps_choice(final({0.2: [0], 0.3: [0], 0.4: [0]}), None)[0] == 0.3  # else the median


def test_counts_are_shown_as_integers_where_whole():
    from analysis.tables.markdown import count
    from nc_core.study.summary import summarize_final

    assert (count(3.0), count(2.5), count(0.0)) == ("3", "2.5", "0")
    last = pd.DataFrame(
        {
            "kind": ["a", "a", "b"],
            "test_acc": [0.5, 0.7, 0.6],
            "trainable_params": [10, 10, 8],
            "layers_fixed": [3, 3, 2],
            "seed": [0, 1, 0],
            "status": ["ok"] * 3,
        }
    )
    table = summarize_final(last, ["kind"])
    assert table.layers_fixed.tolist() == [3, 2] and str(table.layers_fixed.dtype) == "int64"
    split = summarize_final(last.assign(layers_fixed=[3, 2, 2]), ["kind"])
    assert split.layers_fixed.tolist() == [2.5, 2.0]  # a mean that splits stays a mean
