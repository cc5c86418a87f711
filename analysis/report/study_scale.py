"""A study's scale in one line: the network, data set, epochs, train subset, seeds and trials
(the report's list of studies and the paper comparison say it beside each result)."""

from __future__ import annotations

import pandas as pd

from nc_core.study.summary import final_epochs

from ..loading import columns
from ..loading.load import Study
from ..tables.stats import count


def scale(study: Study) -> str:
    """'MLP width 64 depth 6; fashion_mnist; 8 epochs; first 100 train images per class;
    3 seeds [0, 1, 2]; 21 trials'."""
    f = final_epochs(study.epochs)
    model = "/".join(sorted(f["model"].astype(str).unique()))
    if model == "vit":
        shape = "ViT " + ", ".join(
            sorted(
                {
                    f"dim {d} x {b} blocks"
                    for d, b in zip(f[columns.VIT_DIM], f[columns.VIT_DEPTH], strict=True)
                }
            )
        )
    else:
        shape = "MLP " + ", ".join(
            sorted(
                {
                    f"width {w} depth {d}"
                    for w, d in zip(f[columns.MLP_WIDTH], f[columns.MLP_DEPTH], strict=True)
                }
            )
        )
    subsets = {
        ("full train set" if pd.isna(s) else f"first {int(s)} train images per class")
        for s in f["subset"]
    }
    seeds = sorted(int(s) for s in f["seed"].unique())
    epochs = "/".join(str(int(e)) for e in sorted(f["epochs"].unique()))
    return (
        f"{shape}; {', '.join(sorted(f['dataset'].unique()))}; {epochs} epochs; "
        f"{', '.join(sorted(subsets))}; {count(len(seeds), 'seed')} {seeds}; "
        f"{count(len(f), 'trial')}"
    )
