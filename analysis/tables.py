"""Tables 1 and 2 (final accuracy, parameters and fixed layers per arm, mean ± std over seeds)
and Table 3 (ETF against the freeze-in-place control at equal layers fixed).

Each is a DataFrame of plain numbers (the CSV) plus a Markdown rendering of it. Accuracies are
in %, parameters are counts; trials that diverged or failed are excluded and counted in
`excluded` (the report lists them by id).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import write_text_atomic
from .load import Study
from .trials import (
    POLICY_FIELDS,
    SETUP_FIELDS,
    final_rows,
    fix_epochs,
    fix_schedule,
    varying,
    with_arm,
)

TABLE1_KEYS = ["method", "eps", "kind"]
TABLE2_KEYS = ["method", "etf_blocks", "etf_linears", "kind"]


def arm_table(study: Study, keys: list[str]) -> pd.DataFrame:
    """One row per arm: `keys` plus any setup or policy field that varies in the study."""
    final = with_arm(final_rows(study.epochs))
    setup = varying(final, SETUP_FIELDS)
    policy = varying(
        final[final["method"] != "baseline"], [c for c in POLICY_FIELDS if c not in keys]
    )
    group = setup + keys + policy
    fixes = fix_epochs(study.layers, study.epochs)
    rows = []
    for values, g in final.groupby(group, dropna=False, sort=True):
        ok = g[g["status"] == "ok"]
        row = dict(zip(group, values, strict=True))
        row.update(
            n_seeds=ok["seed"].nunique(),
            excluded=len(g) - len(ok),
            train_acc_mean=100 * ok["train_acc"].mean(),
            train_acc_std=100 * ok["train_acc"].std(),
            test_acc_mean=100 * ok["test_acc"].mean(),
            test_acc_std=100 * ok["test_acc"].std(),
            trainable_params_mean=ok["trainable_params"].mean(),
            total_params_mean=ok["total_params"].mean(),
            layers_fixed_mean=ok["layers_fixed"].mean(),
            fixed_at=fix_schedule(fixes, list(ok["trial_id"])),
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    base = table[table["method"] == "baseline"]
    reference = dict(zip(_setup_key(base, setup), base["trainable_params_mean"], strict=True))
    ref = _setup_key(table, setup).map(reference).astype(float)
    table.insert(
        table.columns.get_loc("total_params_mean") + 1,
        "params_reduction_pct",
        100 * (1 - table["trainable_params_mean"] / ref),
    )
    # Baseline first, then arms in key order.
    table = table.sort_values("method", key=lambda s: s != "baseline", kind="stable")
    return table.reset_index(drop=True)


def _setup_key(df: pd.DataFrame, setup: list[str]) -> pd.Series:
    """One string per row identifying its setup (the baseline it is compared with)."""
    if not setup:
        return pd.Series("", index=df.index)
    return df[setup].map(str).agg("|".join, axis=1)


def table1_mlp(study: Study) -> pd.DataFrame:
    """Table 1: baseline and Adaptive-ETF per (eps, kind) in the eps_sweep study."""
    return arm_table(study, TABLE1_KEYS)


def table2_vit(study: Study) -> pd.DataFrame:
    """Table 2: baseline and each (etf_blocks, etf_linears, kind) in the vit_blocks study."""
    return arm_table(study, TABLE2_KEYS)


def etf_vs_freeze(studies: list[Study]) -> pd.DataFrame:
    """Table 3: final test accuracy by (study, setup, layers fixed, arm), mean ± std over trials.

    Every study with at least one ETF or freeze arm contributes, baselines at 0 layers fixed;
    the comparison that matters is between arms at the same number of layers fixed.
    """
    rows = []
    for study in studies:
        final = with_arm(final_rows(study.epochs))
        final = final[final["status"] == "ok"]
        if not (final["arm"] != "baseline").any():
            continue
        setup = varying(final, SETUP_FIELDS)
        for values, g in final.groupby(setup + ["layers_fixed", "arm"], dropna=False):
            values = values if isinstance(values, tuple) else (values,)
            row = {
                "study": study.name,
                **dict(zip(setup + ["layers_fixed", "arm"], values, strict=True)),
            }
            row.update(
                n=len(g),
                test_acc_mean=100 * g["test_acc"].mean(),
                test_acc_std=100 * g["test_acc"].std(),
                train_acc_mean=100 * g["train_acc"].mean(),
            )
            rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    first = ["study", *[c for c in table.columns if c in SETUP_FIELDS], "layers_fixed", "arm"]
    return table[first + [c for c in table.columns if c not in first]]


# --- rendering -----------------------------------------------------------------------------


def _pm(mean: float, std: float) -> str:
    if np.isnan(mean):
        return "n/a"
    return f"{mean:.2f}" if np.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def _cell(value) -> str:
    if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


INTEGER_COLUMNS = {"trainable_params_mean": "trainable params", "total_params_mean": "total params"}
DECIMAL_COLUMNS = {
    "params_reduction_pct": "params reduction (%)",
    "layers_fixed_mean": "layers fixed",
}


def markdown(table: pd.DataFrame) -> str:
    """Readable Markdown of a table: `x_mean`/`x_std` pairs become 'mean ± std' cells, parameter
    counts get thousands separators; columns keep the CSV's order."""
    if table.empty:
        return "_(no rows)_\n"
    shown: dict[str, list[str]] = {}
    for col in table.columns:
        if col.endswith("_std"):
            continue
        if col.endswith("_acc_mean"):
            name = col.removesuffix("_mean")
            std = table[f"{name}_std"] if f"{name}_std" in table else [np.nan] * len(table)
            shown[f"{name.replace('_', ' ')} (%)"] = [
                _pm(m, s) for m, s in zip(table[col], std, strict=True)
            ]
        elif col in INTEGER_COLUMNS:
            shown[INTEGER_COLUMNS[col]] = ["—" if np.isnan(v) else f"{v:,.0f}" for v in table[col]]
        elif col in DECIMAL_COLUMNS:
            shown[DECIMAL_COLUMNS[col]] = ["—" if np.isnan(v) else f"{v:.1f}" for v in table[col]]
        else:
            shown[col] = [_cell(v) for v in table[col]]
    header = "| " + " | ".join(shown) + " |"
    rule = "|" + "|".join("---" for _ in shown) + "|"
    body = ["| " + " | ".join(r) + " |" for r in zip(*shown.values(), strict=True)]
    return "\n".join([header, rule, *body]) + "\n"


def write_table(table: pd.DataFrame, out: Path, stem: str) -> tuple[Path, Path]:
    """`out/stem.csv` (plain numbers) and `out/stem.md`, each written atomically."""
    csv = write_text_atomic(Path(out) / f"{stem}.csv", table.to_csv(index=False))
    md = write_text_atomic(Path(out) / f"{stem}.md", markdown(table))
    return csv, md
