"""The arm table of a study (final accuracy, parameters and fixed layers per arm: mean, std and
Student-t 95% CI over seeds, and the difference to the baseline paired by seed), the arm set
beside the paper's number (`paper_arm`), and the controls table (every kind at equal layers
fixed, 0-fixed cells left out).

Each is a DataFrame of plain numbers (the CSV) plus a Markdown rendering of it. Accuracies are
in %, parameters are counts; trials that diverged or failed are excluded and counted in
`excluded` (the report lists them by id).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nc_core.fixing.etf import ETF_KINDS
from nc_core.study.summary import final_epochs

from .atomic import write_text_atomic
from .load import Study
from .stats import mean_ci, paired_difference
from .trials import (
    POLICY_FIELDS,
    SETUP_FIELDS,
    fix_epochs,
    fix_schedule,
    is_baseline,
    ok_final,
    varying,
    with_arm,
)

TABLE1_KEYS = ["method", "eps", "kind"]
TABLE2_KEYS = ["method", "etf_blocks", "etf_linears", "kind"]
TABLE_DW_KEYS = ["method", "fix_from", "kind"]
KEYS = {"eps_sweep": TABLE1_KEYS, "vit_blocks": TABLE2_KEYS, "depth_width": TABLE_DW_KEYS}
WITHIN = 0.5  # points of test accuracy: the tolerance of the rule in `paper_arm`


def arm_table(study: Study, keys: list[str]) -> pd.DataFrame:
    """One row per arm: `keys` plus any setup or policy field that varies in the study.

    `*_ci95`: Student-t 95% CI half-width (NaN with one seed); `test_acc_diff`: the arm's test
    accuracy minus its setup's baseline, per seed, averaged over the `n_pairs` shared seeds.
    """
    final = with_arm(final_epochs(study.epochs))
    setup = varying(final, SETUP_FIELDS)
    policy = varying(
        final[final["method"] != "baseline"], [c for c in POLICY_FIELDS if c not in keys]
    )
    group = setup + keys + policy
    fixes = fix_epochs(study.layers, study.epochs)
    ok_all = final[final["status"] == "ok"]
    rows = []
    for values, g in final.groupby(group, dropna=False, sort=True):
        ok = g[g["status"] == "ok"]
        row = dict(zip(group, values, strict=True))
        base = ok_all[is_baseline(ok_all)]
        for col in setup:
            base = base[base[col].map(str) == str(row[col])]
        diff = paired_difference(
            ok.assign(v=100 * ok["test_acc"]), base.assign(v=100 * base["test_acc"]), "v"
        )
        test, train = mean_ci(100 * ok["test_acc"]), mean_ci(100 * ok["train_acc"])
        row.update(
            n_seeds=ok["seed"].nunique(),
            excluded=len(g) - len(ok),
            train_acc_mean=train.mean,
            train_acc_std=100 * ok["train_acc"].std(),
            train_acc_ci95=train.ci,
            test_acc_mean=test.mean,
            test_acc_std=100 * ok["test_acc"].std(),
            test_acc_ci95=test.ci,
            test_acc_diff=diff.mean,
            test_acc_diff_ci95=diff.ci,
            n_pairs=diff.n,
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


def baseline_of(table: pd.DataFrame, row: pd.Series) -> pd.Series | None:
    """The baseline row of `row`'s setup in an arm table."""
    base = table[table["method"] == "baseline"]
    for col in [c for c in SETUP_FIELDS if c in table]:
        base = base[base[col].map(str) == str(row[col])]
    return None if base.empty else base.iloc[0]


def paper_arm(table: pd.DataFrame, method: str, *, within: float = WITHIN) -> pd.Series | None:
    """The arm set beside the paper's number, by a stated rule: among the `method` arms that
    fixed at least one layer (mean layers fixed > 0) and whose mean test accuracy is within
    `within` points of their baseline's, the one with the most parameters fixed (the lowest
    mean trainable parameters; ties: higher test accuracy). Only ETF kinds (ETF_KINDS) count:
    a control (orthogonal, freeze) is not the paper's method. None when no arm qualifies;
    never an arm that fixed nothing."""
    arms = table[
        (table["method"] == method)
        & table["kind"].isin(ETF_KINDS)
        & (table["layers_fixed_mean"] > 0)
        & table["test_acc_mean"].notna()
    ]
    keep = []
    for i, row in arms.iterrows():
        base = baseline_of(table, row)
        if base is not None and row["test_acc_mean"] >= base["test_acc_mean"] - within:
            keep.append(i)
    if not keep:
        return None
    pick = arms.loc[keep].sort_values(
        ["trainable_params_mean", "test_acc_mean"], ascending=[True, False], kind="stable"
    )
    return pick.iloc[0]


def _setup_key(df: pd.DataFrame, setup: list[str]) -> pd.Series:
    """One string per row identifying its setup (the baseline it is compared with)."""
    if not setup:
        return pd.Series("", index=df.index)
    return df[setup].map(str).agg("|".join, axis=1)


def study_table(study: Study) -> pd.DataFrame:
    """The arm table of a study by its kind: (eps, kind) for an eps sweep, (fix_from, kind) for
    a depth/width study, (etf_blocks, etf_linears, kind) for a ViT study."""
    return arm_table(study, KEYS.get(study.kind, ["method", "kind"]))


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
    """Readable Markdown of a table: `x_mean` with `x_ci95` becomes a 'mean ± 95% CI' cell (the
    std stays in the CSV), parameter counts get thousands separators; columns keep the CSV's
    order."""
    if table.empty:
        return "_(no rows)_\n"
    shown: dict[str, list[str]] = {}
    for col in table.columns:
        if col.endswith(("_std", "_ci95")):
            continue
        if col.endswith("_acc_mean"):
            name = col.removesuffix("_mean")
            ci = table[f"{name}_ci95"] if f"{name}_ci95" in table else [np.nan] * len(table)
            shown[f"{name.replace('_', ' ')} (%, ± 95% CI)"] = [
                _pm(m, c) for m, c in zip(table[col], ci, strict=True)
            ]
        elif col == "test_acc_diff":
            ci = table.get("test_acc_diff_ci95", pd.Series(np.nan, index=table.index))
            shown["test − baseline (pp, paired by seed)"] = [
                "—" if np.isnan(m) else _pm(m, c).replace("-", "−", 1) if m < 0 else "+" + _pm(m, c)
                for m, c in zip(table[col], ci, strict=True)
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
