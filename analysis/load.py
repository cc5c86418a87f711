"""Read a study's two Parquet tables and check them against the result-table contract.

`results/<study>/epochs.parquet` (one row per trial x epoch) and `results/<study>/layers.parquet`
(one row per trial x epoch x layer) are documented in `nc_core.records`. Analysis needs only the
columns listed here; a file lacking any of them is a `ResultsSchemaError` naming the file and the
columns, raised before any output is written. A study without a directory or an epochs table is
missing, not an error: the caller skips it and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nc_core.records import CONFIG_COLUMNS, EPOCH_COLUMNS, LAYER_COLUMNS

STUDIES = ("eps_sweep", "depth_width", "vit_blocks")

# Config columns the analysis groups or reports by (each is a `RunConfig` field).
CONFIG_NEEDED = [
    "model",
    "width",
    "depth",
    "vit_dim",
    "vit_depth",
    "etf_blocks",
    "etf_linears",
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

# Analysis reads only columns the writer promises; a rename in nc_core.records fails here first.
assert set(EPOCH_NEEDED) <= set(EPOCH_COLUMNS + CONFIG_COLUMNS), "EPOCH_NEEDED drifted from records"
assert set(LAYER_NEEDED) <= set(LAYER_COLUMNS + CONFIG_COLUMNS), "LAYER_NEEDED drifted from records"


class ResultsSchemaError(Exception):
    """A results table that cannot be read, or lacks columns the analysis needs."""


@dataclass(frozen=True)
class Study:
    """One study's tables: `epochs` (trial x epoch) and `layers` (trial x epoch x layer)."""

    name: str
    epochs: pd.DataFrame
    layers: pd.DataFrame


def read_table(path: Path, needed: list[str]) -> pd.DataFrame:
    """Read one Parquet file; raise `ResultsSchemaError` naming it if unreadable or incomplete."""
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a corrupt or foreign file
        raise ResultsSchemaError(
            f"{path}: cannot be read as Parquet ({type(err).__name__}: {err}); rerun the study "
            "that writes it or remove the file"
        ) from err
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ResultsSchemaError(
            f"{path}: missing column(s) {missing}; expected the nc_core.records schema "
            "(EPOCH_COLUMNS / LAYER_COLUMNS plus every RunConfig field). Rewrite it with "
            "nc_core.records.to_frames"
        )
    return df


def load_study(results: Path, name: str) -> Study | None:
    """The study's tables, or None when `results/<name>/epochs.parquet` does not exist.

    A missing layers table (no NC measured) reads as an empty table with the needed columns.
    """
    folder = Path(results) / name
    epochs_path, layers_path = folder / "epochs.parquet", folder / "layers.parquet"
    if not epochs_path.exists():
        return None
    epochs = read_table(epochs_path, EPOCH_NEEDED)
    if layers_path.exists():
        layers = read_table(layers_path, LAYER_NEEDED)
    else:
        layers = pd.DataFrame(columns=LAYER_NEEDED)
    return Study(name=name, epochs=epochs, layers=layers)


def load_all(
    results: Path, names: tuple[str, ...] = STUDIES, folders: dict[str, str] | None = None
) -> dict[str, Study | None]:
    """Every named study (None where missing); all files are checked before anything is drawn.

    `folders` maps a study to the folder its tables are in (default: its name; the studies name
    theirs `<study>-<preset>`, e.g. `eps_sweep-quick`)."""
    folders = folders or {}
    return {name: load_study(results, folders.get(name, name)) for name in names}
