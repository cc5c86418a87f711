"""The arm table of a study (final accuracy, parameters and fixed layers per arm: mean, std and
Student-t 95% CI over seeds, and the difference to the baseline paired by seed over the seeds
both have, with the seeds either lacks), and the arm set beside the paper's number
(`paper_arm`, chosen on that paired difference).

A DataFrame of plain numbers (the CSV; `markdown` renders it). Accuracies are in %, parameters
are counts; trials that diverged or failed are excluded and counted in `excluded` (the report
lists them by id).
"""

from __future__ import annotations

import pandas as pd

from nc_core.fixing.etf import ETF_KINDS
from nc_core.study.summary import final_epochs

from ..loading.load import Study
from .stats import mean_ci, paired
from .trials import (
    POLICY_FIELDS,
    SETUP_FIELDS,
    fix_epochs,
    fix_schedule,
    is_baseline,
    varying,
    with_arm,
)

DEFAULT_KEYS = ["method", "kind"]  # the arms of tables that no study declares
WITHIN = 0.5  # points of test accuracy: the tolerance of the rule in `paper_arm`


def arm_table(study: Study, keys: list[str], method: str | None = None) -> pd.DataFrame:
    """One row per arm: `keys` plus any setup or policy field that varies in the study; the
    fixed arms' `method` is `method` where given (what the study calls them).

    `*_ci95`: Student-t 95% CI half-width (NaN with one seed); `test_acc_diff`: the arm's test
    accuracy minus its setup's baseline, per seed, averaged over the `n_pairs` shared seeds;
    `seeds_missing`: the baseline's seeds the arm lacks and the arm's the baseline lacks
    ("" when the pair is complete).
    """
    final = with_arm(final_epochs(study.epochs), method)
    setup = [c for c in varying(final, SETUP_FIELDS) if c not in keys]  # a key tells arms apart
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
        pair = paired(ok.assign(v=100 * ok["test_acc"]), base.assign(v=100 * base["test_acc"]), "v")
        diff = pair.estimate
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
            seeds_missing=_missing(pair),
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


def _missing(pair) -> str:
    """'arm lacks 2; baseline lacks 5' for an incomplete pair, '' for a complete one."""
    parts = [
        f"{who} lacks {', '.join(map(str, seeds))}"
        for who, seeds in (("arm", pair.only_b), ("baseline", pair.only_a))
        if seeds
    ]
    return "; ".join(parts)


def baseline_of(table: pd.DataFrame, row: pd.Series) -> pd.Series | None:
    """The baseline row of `row`'s setup in an arm table: the setup fields that tell its
    baselines apart (a field that only its arms vary, such as an arm key, is not a setup)."""
    base = table[table["method"] == "baseline"]
    for col in varying(base, SETUP_FIELDS):
        base = base[base[col].map(str) == str(row[col])]
    return None if base.empty else base.iloc[0]


def paper_arm(table: pd.DataFrame, method: str, *, within: float = WITHIN) -> pd.Series | None:
    """The arm set beside the paper's number, by a stated rule: among the `method` arms that
    fixed at least one layer (mean layers fixed > 0) and whose test accuracy minus their
    baseline's, paired by seed over the seeds both have (`test_acc_diff`, over `n_pairs` >= 1
    seeds), is at least -`within` points, the one with the most parameters fixed (the lowest
    mean trainable parameters; ties: higher test accuracy). Only ETF kinds (ETF_KINDS) count:
    a control (orthogonal, freeze) is not the paper's method. None when no arm qualifies;
    never an arm that fixed nothing."""
    arms = table[
        (table["method"] == method)
        & table["kind"].isin(ETF_KINDS)
        & (table["layers_fixed_mean"] > 0)
        & (table["n_pairs"] >= 1)
        & (table["test_acc_diff"] >= -within)
    ]
    if arms.empty:
        return None
    pick = arms.sort_values(
        ["trainable_params_mean", "test_acc_mean"], ascending=[True, False], kind="stable"
    )
    return pick.iloc[0]


def _setup_key(df: pd.DataFrame, setup: list[str]) -> pd.Series:
    """One string per row identifying its setup (the baseline it is compared with)."""
    if not setup:
        return pd.Series("", index=df.index)
    return df[setup].map(str).agg("|".join, axis=1)


def study_keys(study: Study) -> list[str]:
    """The arm table's keys: the declaration's `table_keys` ("method", then the fields that tell
    its arms apart, e.g. mode, eps and kind), with `mode` after "method" where the study has an
    Adaptive-ETF arm and does not declare it (studies stored before it was a key), so that every
    row says which reading of the rule it ran."""
    keys = list(study.type.table_keys) if study.type is not None else list(DEFAULT_KEYS)
    if "mode" not in keys and (study.epochs["policy"] == "adaptive").any():
        keys.insert(1, "mode")
    return keys


def study_table(study: Study) -> pd.DataFrame:
    """The arm table of a study by its declaration (`study_keys`) and the name of its method."""
    method = study.type.method if study.type is not None else None
    return arm_table(study, study_keys(study), method)
