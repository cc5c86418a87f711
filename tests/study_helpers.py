"""The smoke command line of the study scripts, and the checks of the tables a study writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nc_core.results.records import EPOCH_COLUMNS, LAYER_COLUMNS, config_columns
from nc_core.train.build import build_adapter, build_model
from nc_core.train.config import RunConfig


def common(tmp: Path, *extra: str) -> list[str]:
    """The smoke command line, storing under `tmp`, plus `extra` (one string is split)."""
    where = ["--storage", str(tmp / "ray"), "--results", str(tmp / "results")]
    if len(extra) == 1:
        extra = tuple(extra[0].split())
    return ["--preset", "smoke", "--verbose", "0", *where, *extra]


def canonical(tmp: Path, *extra: str) -> list[str]:
    """`common`'s command line for the eps sweep of the canonical ETF alone (fewer trials than
    the four kinds of the default), kept under the default's name, `eps_sweep-smoke`."""
    if len(extra) == 1:
        extra = tuple(extra[0].split())
    return common(tmp, "--kinds", "canonical", "--name", "eps_sweep-smoke", *extra)


def read_tables(tmp: Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = tmp / "results" / name
    return pd.read_parquet(out / "epochs.parquet"), pd.read_parquet(out / "layers.parquet")


def check_tables(epochs: pd.DataFrame, layers: pd.DataFrame, trials: int, cfg: RunConfig) -> None:
    """Schemas, one row per (trial, epoch[, layer]), every trial finished."""
    assert list(epochs.columns) == EPOCH_COLUMNS + config_columns(cfg)
    assert list(layers.columns) == LAYER_COLUMNS + config_columns(cfg)
    model = build_model(cfg)
    n_layers = len(build_adapter(cfg, model).layers)
    assert epochs.trial_id.nunique() == trials
    assert len(epochs) == trials * cfg.epochs
    assert len(layers) == trials * cfg.epochs * n_layers  # eval_every=1: NC every epoch
    assert not epochs.duplicated(["trial_id", "epoch"]).any()
    assert not layers.duplicated(["trial_id", "epoch", "layer"]).any()
    for _, trial in epochs.groupby("trial_id"):
        assert sorted(trial.epoch) == list(range(1, cfg.epochs + 1))
    assert set(epochs.status) == {"ok"}
