"""Read one study's two Parquet tables and check them against the `nc_core.results.records` schema.

`epochs.parquet` (one row per trial x epoch) and `layers.parquet` (one row per trial x epoch x
layer) are documented in `nc_core.results.records`. Every check here runs before anything is
written: a table that cannot be read, lacks a column, has a column of the wrong type or no rows, or
whose pair does not belong together is a `ResultsSchemaError` naming the file and what is wrong.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nc_core.results import pair as tables
from nc_core.results.records import CONFIG_COLUMNS, EPOCH_COLUMNS, LAYER_COLUMNS

from . import columns

# Config columns the analysis groups or reports by (each is a `RunConfig` run field); every
# model's option columns (`columns.OPTION_COLUMNS`) are read too, as nulls where a table has none
# (a row carries its own model's options only).
CONFIG_NEEDED = [
    "model",
    "dataset",
    "subset",
    "epochs",
    "policy",
    "eps",
    "kind",
    "fix_from",
    "seed",
]
EPOCH_NEEDED = [
    "trial_id",
    "status",
    "epoch",
    "train_acc",
    "test_acc",
    "trainable_params",
    "total_params",
    "layers_fixed",
    "fixed_layers",
    "epoch_seconds",
] + CONFIG_NEEDED
LAYER_NEEDED = [
    "trial_id",
    "status",
    "epoch",
    "layer",
    "layer_index",
    "train_ncc_acc",
    "test_ncc_acc",
    "fixed",
    "fixed_as",
    "fixed_epoch",
] + CONFIG_NEEDED
# Measures drawn when present (older tables lack some; they read as NaN).
LAYER_OPTIONAL = [
    "train_ncc_wrong",
    "nc_n",
    "probe_train_acc",
    "probe_test_acc",
    "nc1",
    "nc2_equinorm",
    "nc2_equiangle",
    "etf_distance",
    "cdnv",
    "rank_means",
    "erank_means",
    "rank_cov",
    "erank_cov",
    "dead_units",
]
# Columns that must hold numbers (bool counts as a number for `fixed`).
NUMERIC = {
    "epoch",
    "train_acc",
    "test_acc",
    "trainable_params",
    "total_params",
    "layers_fixed",
    "epoch_seconds",
    *columns.NUMERIC_OPTIONS,
    "epochs",
    "eps",
    "seed",
    "layer_index",
    "train_ncc_acc",
    "test_ncc_acc",
    "fixed_epoch",
    "fixed",
    *LAYER_OPTIONAL,
}

# Analysis reads only columns the writer promises; a rename in nc_core.results.records fails here
# first.
assert set(EPOCH_NEEDED) <= set(EPOCH_COLUMNS + CONFIG_COLUMNS), "EPOCH_NEEDED drifted from records"
assert set(LAYER_NEEDED + LAYER_OPTIONAL) <= set(LAYER_COLUMNS + CONFIG_COLUMNS), (
    "LAYER_NEEDED drifted from records"
)


class ResultsSchemaError(Exception):
    """A results table that cannot be read, lacks columns, or does not belong with its pair."""


def read_table(path: Path, needed: list[str], *, optional: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read one Parquet file; raise `ResultsSchemaError` naming it if unreadable, incomplete or
    with a column of the wrong type. Optional columns it lacks are added as NaN."""
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a corrupt or foreign file
        raise ResultsSchemaError(
            f"{path}: cannot be read as Parquet ({type(err).__name__}: {err}); rerun the study "
            "that writes it or remove the file"
        ) from err
    df = columns.upgrade(df)  # tables of nc-core 0.1 in today's column names
    for col in columns.OPTION_COLUMNS:
        if col not in df.columns:
            df[col] = None
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ResultsSchemaError(
            f"{path}: missing column(s) {missing}; expected the nc_core.results.records schema "
            "(EPOCH_COLUMNS / LAYER_COLUMNS plus every RunConfig field). Rewrite it with "
            "nc_core.results.records.to_frames"
        )
    for col in optional:
        if col not in df.columns:
            df[col] = float("nan")
    for col in [c for c in df.columns if c in NUMERIC]:
        s = df[col]
        if s.isna().all() or pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        if pd.to_numeric(s.dropna(), errors="coerce").notna().all() and s.dtype == object:
            example = s.dropna().iloc[0]
            if not isinstance(example, str):
                df[col] = pd.to_numeric(s)  # numbers stored as objects (e.g. all-None then ints)
                continue
        raise ResultsSchemaError(
            f"{path}: column {col!r} holds {s.dtype} values (e.g. {s.dropna().iloc[0]!r}); "
            "expected numbers. Rewrite the table with nc_core.results.records.to_frames"
        )
    return df


def check_pair(epochs_path: Path, layers_path: Path) -> None:
    """Refuse an epochs/layers pair written by different runs (`nc_core.results.pair`)."""
    try:
        tables.check_pair(epochs_path, layers_path)
    except tables.MismatchedTables as err:
        raise ResultsSchemaError(str(err)) from err
    except Exception:  # unreadable: read_table then says why, naming the file
        return


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def read_pair(epochs_path: Path, layers_path: Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables of one study or run, checked, sorted by trial and epoch (and layer)."""
    if layers_path.exists():
        check_pair(epochs_path, layers_path)
    epochs = read_table(epochs_path, EPOCH_NEEDED)
    if epochs.empty:
        raise ResultsSchemaError(
            f"study {name} has no finished trials ({epochs_path} has no rows); run it first, "
            "or leave it out with --study"
        )
    if epochs["test_acc"].isna().all():  # every table and figure compares test accuracy
        raise ResultsSchemaError(
            f"{epochs_path}: column 'test_acc' holds no number (all NaN); rewrite the table "
            "(rerun, or the study's --export-only), or leave it out with --study"
        )
    if layers_path.exists():
        layers = read_table(layers_path, LAYER_NEEDED, optional=tuple(LAYER_OPTIONAL))
    else:
        layers = pd.DataFrame(columns=LAYER_NEEDED + LAYER_OPTIONAL)
    return _sorted(epochs, ["trial_id", "epoch"]), _sorted(
        layers, ["trial_id", "epoch", "layer_index"]
    )
