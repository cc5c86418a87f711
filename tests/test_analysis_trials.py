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
