"""The controls table: every kind at equal layers fixed (the ETF kinds beside the random-isometry
and freeze-in-place controls), over every study with a fixed-layer arm; cells with 0 layers
fixed are left out, since there every kind is the baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..loading.load import Study
from .stats import mean_ci
from .trials import SETUP_FIELDS, ok_final, varying


def controls(studies: list[Study]) -> pd.DataFrame:
    """The controls table: final test accuracy by (study, setup, layers fixed, arm), mean, std
    and 95% CI over ok trials, for every study with a fixed-layer arm. Cells with 0 layers fixed
    are left out (there every kind is the baseline); each setup's baseline is the row with
    `arm` "baseline" and `layers_fixed` NaN, a reference line, not a cell."""
    rows = []
    for study in studies:
        final = ok_final(study.epochs)
        if not (final["arm"] != "baseline").any():
            continue
        setup = varying(final, SETUP_FIELDS)
        base = final["arm"] == "baseline"
        cells = final[~base & (final["layers_fixed"] > 0)]
        refs = final[base].assign(layers_fixed=np.nan)
        for part in (refs, cells):
            for values, g in part.groupby(setup + ["layers_fixed", "arm"], dropna=False):
                values = values if isinstance(values, tuple) else (values,)
                test = mean_ci(100 * g["test_acc"])
                row = {
                    "study": study.name,
                    **dict(zip(setup + ["layers_fixed", "arm"], values, strict=True)),
                }
                row.update(
                    n=len(g),
                    test_acc_mean=test.mean,
                    test_acc_std=100 * g["test_acc"].std(),
                    test_acc_ci95=test.ci,
                    train_acc_mean=100 * g["train_acc"].mean(),
                )
                rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    first = ["study", *[c for c in table.columns if c in SETUP_FIELDS], "layers_fixed", "arm"]
    return table[first + [c for c in table.columns if c not in first]]
