"""Stale or mixed tables, said: rows of several studies in one table, trials the stored study
definition does not list (or lists without rows), a Tune experiment that changed after the
tables were written, and trials that stopped before their last epoch (`Study.problems`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .study_type import spec_configs


def _norm(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "none"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return format(float(value), ".10g")
    return str(value)


def problems_of(
    epochs: pd.DataFrame,
    layers: pd.DataFrame,
    spec: dict | None,
    tune_dir: Path | None,
    written: float | None = None,
) -> list[str]:
    """Stale or mixed tables, each said in one sentence with what to do. `tune_dir`: the
    study's Tune experiment; `written`: when its epochs table was written (mtime)."""
    out = []
    studies = sorted({s for s in epochs.get("study", pd.Series(dtype=str)).dropna() if s})
    if len(studies) > 1:
        out.append(f"mixed: its epochs table holds rows of {len(studies)} studies {studies}")
    stray = set(layers["trial_id"]) - set(epochs["trial_id"])
    if stray:
        out.append(
            f"mixed: {len(stray)} trial(s) in layers.parquet are not in epochs.parquet "
            f"(e.g. {sorted(stray)[0]}); re-export the study"
        )
    if spec is not None and spec.get("trials"):
        want = spec_configs(spec)
        keys = [c for c in want.columns if c in epochs.columns and c != "device"]
        have = epochs.drop_duplicates("trial_id")
        sig_want = {"|".join(_norm(v) for v in r) for r in want[keys].itertuples(index=False)}
        sig_have = ["|".join(_norm(v) for v in r) for r in have[keys].itertuples(index=False)]
        foreign = sum(s not in sig_want for s in sig_have)
        if foreign:
            out.append(
                f"stale: {foreign} of its {len(have)} trials are not in the stored study "
                "definition (tables from an earlier version of the study); re-export with "
                "--export-only or rerun it"
            )
        if len(set(sig_have) & sig_want) < len(sig_want):
            out.append(
                f"incomplete: {len(sig_want - set(sig_have))} of the study's {len(sig_want)} "
                "trials have no rows; rerun the study to finish them"
            )
    if tune_dir is not None and written is not None:
        states = tune_dir.glob("experiment_state*.json")
        newest = max((p.stat().st_mtime for p in states), default=None)
        if newest is not None and newest > written + 1.0:
            out.append(
                "stale: its Tune experiment changed after the tables were written; rerun the "
                "study with --export-only to refresh them"
            )
    unfinished = epochs.drop_duplicates("trial_id", keep="last")
    running = unfinished[unfinished["status"].isin(["incomplete", "running"])]
    if len(running):
        out.append(f"incomplete: {len(running)} trial(s) stopped before their last epoch")
    return out
