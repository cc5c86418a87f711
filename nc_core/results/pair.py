"""The epochs and layers tables as one pair: written together, read back only as a match.

`write_pair` replaces both Parquet files together or not at all
(`nc_core.results.atomic.write_together`) and stamps both with one generation id in the Parquet
schema metadata (key `GENERATION_KEY`). `read_pair` reads them back and refuses a pair whose ids
differ, naming both files: the trace of a write that replaced one file and not the other, or of
files copied from different runs.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nc_core.results.atomic import write_together

GENERATION_KEY = b"nc_generation"


class MismatchedTables(ValueError):
    """The two tables of a pair come from different writes."""


def _writer(df: pd.DataFrame, generation: str):
    def write(tmp: str) -> None:
        table = pa.Table.from_pandas(df, preserve_index=False)
        meta = {**(table.schema.metadata or {}), GENERATION_KEY: generation.encode()}
        pq.write_table(table.replace_schema_metadata(meta), tmp)

    return write


def write_pair(
    epochs: pd.DataFrame,
    layers: pd.DataFrame,
    epochs_path: str | os.PathLike,
    layers_path: str | os.PathLike,
) -> str:
    """Write both tables (both or neither replaced); return the generation id stamped on both."""
    generation = uuid.uuid4().hex
    write_together(
        {epochs_path: _writer(epochs, generation), layers_path: _writer(layers, generation)}
    )
    return generation


def generation_of(path: str | os.PathLike) -> str | None:
    """The generation id of a Parquet file written by `write_pair` (None: not stamped)."""
    meta = pq.read_schema(path).metadata or {}
    value = meta.get(GENERATION_KEY)
    return value.decode() if value is not None else None


def check_pair(epochs_path: str | os.PathLike, layers_path: str | os.PathLike) -> None:
    """Raise MismatchedTables naming both files when their generation ids differ, or when one is
    stamped and the other not. Two unstamped files (written before pairs were stamped) pass."""
    a, b = generation_of(epochs_path), generation_of(layers_path)
    if a != b:
        raise MismatchedTables(
            f"{Path(epochs_path)} (generation {a}) and {Path(layers_path)} (generation {b}) "
            "come from different writes: a mismatched pair. Rewrite both (rerun, or a study's "
            "--export-only)"
        )


def read_pair(
    epochs_path: str | os.PathLike, layers_path: str | os.PathLike
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(epochs, layers) read from a pair written by `write_pair`, after `check_pair`."""
    check_pair(epochs_path, layers_path)
    return pd.read_parquet(epochs_path), pd.read_parquet(layers_path)
