"""Find studies, read their two Parquet tables, and say what each study is.

`results/<study>/epochs.parquet` (one row per trial x epoch) and `results/<study>/layers.parquet`
(one row per trial x epoch x layer) are documented in `nc_core.records`. Every check here runs
before anything is written: a table that cannot be read, lacks a column, has a column of the
wrong type or no rows, or whose pair does not belong together is a `ResultsSchemaError` naming
the file and what is wrong.

What a study is (an eps sweep, a depth/width study, a ViT study) is read from its stored study
file, the `nc_study.json` the study driver writes into Tune's experiment directory
`<storage>/<name>/` (by default `<results>/ray/<name>/`), or `<results>/<name>/study.json`
beside the tables; without one it is inferred from the tables' configurations. Tables older
than their Tune experiment, or mixing studies, are reported (`Study.problems`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nc_core.records import CONFIG_COLUMNS, EPOCH_COLUMNS, LAYER_COLUMNS
from nc_core.tables import generation_of

# What a study can be; "runs" is anything else (e.g. baselines only, or one CLI run).
KINDS = ("eps_sweep", "depth_width", "vit_blocks", "runs")
KIND_TITLES = {
    "eps_sweep": "Adaptive-ETF over eps (MLP)",
    "depth_width": "StaticETF before/after the effective depth (MLP widths x depths)",
    "vit_blocks": "ETF feedforward blocks (ViT)",
    "runs": "training runs",
}
SPEC_FILES = ("study.json", "nc_study.json")  # beside the tables / in Tune's experiment dir

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
# Measures drawn when present (older tables lack some; they read as NaN).
LAYER_OPTIONAL = [
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
    "width",
    "depth",
    "vit_dim",
    "vit_depth",
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

# Analysis reads only columns the writer promises; a rename in nc_core.records fails here first.
assert set(EPOCH_NEEDED) <= set(EPOCH_COLUMNS + CONFIG_COLUMNS), "EPOCH_NEEDED drifted from records"
assert set(LAYER_NEEDED + LAYER_OPTIONAL) <= set(LAYER_COLUMNS + CONFIG_COLUMNS), (
    "LAYER_NEEDED drifted from records"
)


class ResultsSchemaError(Exception):
    """A results table that cannot be read, lacks columns, or does not belong with its pair."""


@dataclass(frozen=True)
class Study:
    """One study's tables: `epochs` (trial x epoch) and `layers` (trial x epoch x layer), sorted;
    `kind` (one of KINDS) and where it came from; `problems`: stale or mixed tables, said."""

    name: str
    epochs: pd.DataFrame
    layers: pd.DataFrame
    kind: str = "runs"
    kind_source: str = "inferred from the tables"
    problems: tuple[str, ...] = field(default_factory=tuple)


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
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ResultsSchemaError(
            f"{path}: missing column(s) {missing}; expected the nc_core.records schema "
            "(EPOCH_COLUMNS / LAYER_COLUMNS plus every RunConfig field). Rewrite it with "
            "nc_core.records.to_frames"
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
            "expected numbers. Rewrite the table with nc_core.records.to_frames"
        )
    return df


def check_pair(epochs_path: Path, layers_path: Path) -> None:
    """Refuse an epochs/layers pair written by different runs (their generation ids differ, or
    one is stamped and the other not: `nc_core.tables`). Two unstamped tables are accepted."""
    try:
        a, b = generation_of(epochs_path), generation_of(layers_path)
    except Exception:  # unreadable: read_table then says why, naming the file
        return
    if a != b:
        raise ResultsSchemaError(
            f"{epochs_path} (generation {a}) and {layers_path} (generation {b}) were written by "
            "different runs: a mismatched pair. Re-export the study (--export-only) or rerun it"
        )


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
    if layers_path.exists():
        layers = read_table(layers_path, LAYER_NEEDED, optional=tuple(LAYER_OPTIONAL))
    else:
        layers = pd.DataFrame(columns=LAYER_NEEDED + LAYER_OPTIONAL)
    return _sorted(epochs, ["trial_id", "epoch"]), _sorted(
        layers, ["trial_id", "epoch", "layer_index"]
    )


# ---------------------------------------------------------------------------- what a study is


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


def load_study(results: Path, name: str, *, storage: Path | None = None) -> Study | None:
    """The study's tables and kind, or None when `results/<name>/epochs.parquet` does not exist.

    A missing layers table (no NC measured) reads as an empty table with the needed columns.
    """
    folder = Path(results) / name
    epochs_path, layers_path = folder / "epochs.parquet", folder / "layers.parquet"
    if not epochs_path.exists():
        return None
    epochs, layers = read_pair(epochs_path, layers_path, name)
    spec_path = find_spec(results, name, storage)
    spec = None
    if spec_path is not None:
        try:
            spec = json.loads(spec_path.read_text())
        except (OSError, ValueError) as err:
            raise ResultsSchemaError(f"{spec_path}: not a readable study file ({err})") from err
    if spec is not None:
        kind = spec.get("kind") or classify(spec_configs(spec))
        source = f"from its study file {spec_path}"
    else:
        kind, source = classify(epochs.drop_duplicates("trial_id")), "inferred from the tables"
    tune_dir = spec_path.parent if spec_path is not None else None
    problems = problems_of(epochs, layers, spec, tune_dir, epochs_path.stat().st_mtime)
    return Study(name, epochs, layers, kind=kind, kind_source=source, problems=tuple(problems))


def find_studies(results: Path) -> list[str]:
    """Every folder of `results` holding an epochs.parquet, by name."""
    return sorted(p.parent.name for p in Path(results).glob("*/epochs.parquet"))


def load_all(
    results: Path, names: list[str] | tuple[str, ...] | None = None, *, storage=None
) -> dict[str, Study]:
    """The named studies (default: every one found); all files are checked before anything is
    drawn. A named study without tables is a `ResultsSchemaError`."""
    names = list(names) if names else find_studies(results)
    studies = {}
    for name in names:
        study = load_study(results, name, storage=storage)
        if study is None:
            found = find_studies(results)
            raise ResultsSchemaError(
                f"--study {name}: no {Path(results) / name / 'epochs.parquet'}; studies found "
                f"in {results}: {', '.join(found) or 'none'}"
            )
        studies[name] = study
    return studies


def load_run(path: Path) -> Study:
    """One training run's `--out` table (`run.parquet` + `run.layers.parquet`) as a study."""
    path = Path(path)
    if not path.is_file():
        raise ResultsSchemaError(
            f"--run {path}: no such file; pass the --out table of `python -m nc_core.train`"
        )
    epochs, layers = read_pair(path, path.with_suffix(".layers.parquet"), path.stem)
    for df in (epochs, layers):
        df["trial_id"] = df["trial_id"].replace("", path.stem).fillna(path.stem)
    return Study(path.stem, epochs, layers, kind="runs", kind_source=f"the run table {path}")
