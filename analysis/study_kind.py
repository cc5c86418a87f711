"""What a study is (an eps sweep, a depth/width study, a ViT study, or plain runs).

It is read from the study's stored study file, the `nc_study.json` the study driver writes
into Tune's experiment directory `<storage>/<name>/` (by default `<results>/ray/<name>/`), or
`<results>/<name>/study.json` beside the tables; without one it is inferred from the tables'
configurations.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .parquet_tables import ResultsSchemaError

# What a study can be; "runs" is anything else (e.g. baselines only, or one CLI run).
KINDS = ("eps_sweep", "depth_width", "vit_blocks", "runs")
KIND_TITLES = {
    "eps_sweep": "Adaptive-ETF over eps (MLP)",
    "depth_width": "StaticETF before/after the effective depth (MLP widths x depths)",
    "vit_blocks": "ETF feedforward blocks (ViT)",
    "runs": "training runs",
}
SPEC_FILES = ("study.json", "nc_study.json")  # beside the tables / in Tune's experiment dir


def classify(configs: pd.DataFrame) -> str:
    """The study kind of a set of trial configurations (RunConfig fields as columns)."""
    model = configs.get("model", pd.Series(dtype=object)).astype(str)
    policy = configs.get("policy", pd.Series(dtype=object)).astype(str)
    if (model == "vit").any():
        return "vit_blocks"
    if (policy == "static").any():
        return "depth_width"
    if (policy == "adaptive").any():
        return "eps_sweep"
    return "runs"


def spec_configs(spec: dict) -> pd.DataFrame:
    """One row per trial of a stored `StudySpec.describe()` (a search: the base config)."""
    base = spec.get("base", {})
    trials = spec.get("trials") or [{}]
    return pd.DataFrame([{**base, **t} for t in trials])


def find_spec(results: Path, name: str, storage: Path | None) -> Path | None:
    """The stored study file of `name`: beside the tables, else in Tune's experiment dir."""
    places = [Path(results) / name / SPEC_FILES[0]]
    for root in ([Path(storage)] if storage else []) + [Path(results) / "ray"]:
        places.append(root / name / SPEC_FILES[1])
    return next((p for p in places if p.is_file()), None)


def read_spec(path: Path) -> dict:
    """A stored study file as a dict; `ResultsSchemaError` naming it when it cannot be read."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ResultsSchemaError(f"{path}: not a readable study file ({err})") from err


def kind_of(epochs: pd.DataFrame, spec: dict | None, spec_path: Path | None) -> tuple[str, str]:
    """(kind, where it was read): the study file's `kind` (else its trials' configurations),
    or without a study file the configurations in the epochs table."""
    if spec is not None:
        kind = spec.get("kind") or classify(spec_configs(spec))
        return kind, f"from its study file {spec_path}"
    return classify(epochs.drop_duplicates("trial_id")), "inferred from the tables"
