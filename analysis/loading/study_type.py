"""What kind of study a study is: its `StudyType` (`nc_core.study.declaration`), or None for
plain training runs.

It is read from the study's stored study file, the `nc_study.json` the study driver writes
into Tune's experiment directory `<storage>/<name>/` (by default `<results>/ray/<name>/`), or
`<results>/<name>/study.json` beside the tables: the study's declaration is stored there, so a
study declared outside the package is drawn without importing its file. A study file without
one (nc-core 0.1), or no study file at all, leaves the type to be inferred from the trials'
configurations: the built-in study whose marks (`StudyType.marks`) the most trials carry.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from nc_core.study.declaration import STUDY_KEY, StudyType
from nc_core.study.registry import builtin_types

from . import columns
from .parquet_tables import ResultsSchemaError

SPEC_FILES = ("study.json", "nc_study.json")  # beside the tables / in Tune's experiment dir
RUNS_TITLE = "training runs"  # anything else: baselines only, or one command-line run


def infer_type(configs: pd.DataFrame) -> StudyType | None:
    """The built-in study type of a set of trial configurations (RunConfig fields as columns):
    the one whose marks the most trials carry (ties: the first by name); None when no trial
    carries any."""
    best, hits = None, 0
    for study_type in builtin_types():
        carried = pd.Series(False, index=configs.index)
        for column, value in study_type.marks:
            if column in configs:
                carried |= configs[column].astype(str) == str(value)
        if int(carried.sum()) > hits:
            best, hits = study_type, int(carried.sum())
    return best


def spec_configs(spec: dict) -> pd.DataFrame:
    """One row per trial of a stored `StudySpec.describe()` (a search: the base config), in
    today's column names."""
    base = spec.get("base", {})
    trials = spec.get("trials") or [{}]
    return columns.upgrade(pd.DataFrame([trial_row(base, t) for t in trials]))


def trial_row(base: dict, trial: dict) -> dict:
    """The config columns of one trial: the flat `base` with the `trial`'s overrides. A trial of
    another model than the base's drops the base model's options (`mlp_width`), as its rows do:
    a row carries only its own model's options."""
    row = {**base, **trial}
    model, base_model = trial.get("model"), base.get("model", "mlp")
    if model is None or model == base_model:
        return row
    return {k: v for k, v in row.items() if k in trial or not k.startswith(f"{base_model}_")}


def find_spec(results: Path, name: str, storage: Path | None) -> Path | None:
    """The stored study file of `name`: beside the tables, else in Tune's experiment dir."""
    places = [Path(results) / name / SPEC_FILES[0]]
    for root in ([Path(storage)] if storage else []) + [Path(results) / "ray"]:
        places.append(root / name / SPEC_FILES[1])
    return next((p for p in places if p.is_file()), None)


def read_spec(path: Path) -> dict:
    """A stored study file as a dict; `ResultsSchemaError` naming it when it cannot be read."""
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ResultsSchemaError(f"{path}: not a readable study file ({err})") from err
    if not isinstance(spec, dict) or not (isinstance(spec.get("base"), dict) or STUDY_KEY in spec):
        raise ResultsSchemaError(
            f"{path}: not a study file (a JSON object of its description: a 'base' config or "
            f"a {STUDY_KEY!r} declaration); remove it, or rerun the study to write it again"
        )
    return spec


def type_of(
    epochs: pd.DataFrame, spec: dict | None, spec_path: Path | None
) -> tuple[StudyType | None, str]:
    """(type, where it was read): the study file's stored declaration (else its trials'
    configurations), or without a study file the configurations in the epochs table."""
    if spec is None:
        return infer_type(epochs.drop_duplicates("trial_id")), "inferred from the tables"
    if STUDY_KEY not in spec:
        return infer_type(spec_configs(spec)), f"from its study file {spec_path}"
    try:
        return StudyType.from_dict(spec[STUDY_KEY]), f"from its study file {spec_path}"
    except ValueError as err:
        raise ResultsSchemaError(
            f"{spec_path}: its {STUDY_KEY!r} entry is not a study declaration ({err}); rerun "
            "the study with this nc-core, or remove the entry to infer the study's type"
        ) from err
