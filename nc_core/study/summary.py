"""A study's result tables read for people: final epochs, seed averages, Pareto fronts, CSV.

Pure pandas over the epochs table of `nc_core.results.records` (one row per trial and epoch); the
study scripts print these and the analysis builds on `final_epochs`.
"""

from __future__ import annotations

import pandas as pd

from nc_core.results.atomic import write_csv_atomic  # noqa: F401  (kept importable here)


def final_epochs(epochs: pd.DataFrame) -> pd.DataFrame:
    """The last epoch row of every trial."""
    return epochs.groupby("trial_id", sort=False).tail(1).reset_index(drop=True)


def pareto_front(df: pd.DataFrame, objectives: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """Rows of `df` that no other row dominates (>= on every objective, > on one)."""
    signs = [1.0 if mode == "max" else -1.0 for _, mode in objectives]
    values = df[[m for m, _ in objectives]].to_numpy(float) * signs  # (N, M), larger is better
    keep = [
        not any(
            (values[j] >= values[i]).all() and (values[j] > values[i]).any()
            for j in range(len(values))
        )
        for i in range(len(values))
    ]
    return df[keep].sort_values(objectives[0][0], ascending=objectives[0][1] == "min")


def summarize_final(last: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Final-epoch rows (`final_epochs`) averaged over seeds per `keys`: test accuracy, trainable
    parameters (rounded to an integer), layers fixed, the number of seeds and of trials that did
    not end "ok"; one row per configuration, sorted by `keys` (a missing value first)."""
    table = (
        last.groupby(keys, sort=False, dropna=False)
        .agg(
            test_acc=("test_acc", "mean"),
            trainable_params=("trainable_params", "mean"),
            layers_fixed=("layers_fixed", "mean"),
            seeds=("seed", "nunique"),
            not_ok=("status", lambda s: int((s != "ok").sum())),
        )
        .reset_index()
    )
    table["trainable_params"] = table.trainable_params.round().astype("int64")
    if (table.layers_fixed % 1 == 0).all():  # a count: "3", not "3.0", where no mean is split
        table["layers_fixed"] = table.layers_fixed.astype("int64")
    return table.sort_values(keys, na_position="first", kind="stable", ignore_index=True)
