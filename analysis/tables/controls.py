"""The controls table: every kind at equal layers fixed (the ETF kinds beside the random-isometry
and freeze-in-place controls), over every study with a fixed-layer arm, per reading of the rule
(`mode`, "none" where no adaptive rule ran); cells with 0 layers fixed are left out, since there
every kind is the baseline. Its means are per cell, not paired: the paired comparisons of the
same arms are `kind_pairs`."""

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
        # The reading of the rule, where an adaptive arm ran one: a panel of its own.
        final = final.assign(mode=final["mode"].where(final["policy"] == "adaptive", "none"))
        base = final["arm"] == "baseline"
        cells = final[~base & (final["layers_fixed"] > 0)]
        modes = sorted(set(cells["mode"])) or ["none"]
        refs = pd.concat(  # each setup's baseline, as the reference of every mode's panel
            [final[base].assign(layers_fixed=np.nan, mode=m) for m in modes], ignore_index=True
        )
        keys = setup + ["mode", "layers_fixed", "arm"]
        for part in (refs, cells):
            for values, g in part.groupby(keys, dropna=False):
                values = values if isinstance(values, tuple) else (values,)
                test = mean_ci(100 * g["test_acc"])
                row = {"study": study.name, **dict(zip(keys, values, strict=True))}
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
    first = [
        "study",
        *[c for c in table.columns if c in SETUP_FIELDS],
        "mode",
        "layers_fixed",
        "arm",
    ]
    return table[first + [c for c in table.columns if c not in first]]
