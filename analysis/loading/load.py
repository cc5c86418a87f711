"""Find studies and load each as a `Study`: its two checked tables (`parquet_tables`), what kind
of study it is (`study_type`) and what is stale or mixed about it (`staleness`).

`results/<study>/epochs.parquet` and `results/<study>/layers.parquet` are one study's tables;
a training run's `--out` table and the `.layers.parquet` beside it load as a study too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nc_core.study.declaration import DEFAULT_FIGURES, StudyType

from .parquet_tables import ResultsSchemaError, read_pair
from .staleness import problems_of
from .study_type import RUNS_TITLE, find_spec, read_spec, type_of

RUNS = "runs"  # the kind, and the figure set, of tables that are no declared study


@dataclass(frozen=True)
class Study:
    """One study's tables: `epochs` (trial x epoch) and `layers` (trial x epoch x layer), sorted;
    `type`, what kind of study it is (None: plain runs), and where that was read
    (`kind_source`); `problems`: stale or mixed tables, said."""

    name: str
    epochs: pd.DataFrame
    layers: pd.DataFrame
    type: StudyType | None = None
    kind_source: str = "inferred from the tables"
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def kind(self) -> str:
        """The name of its study type, or "runs"."""
        return RUNS if self.type is None else self.type.name

    @property
    def title(self) -> str:
        return RUNS_TITLE if self.type is None else self.type.title

    @property
    def figure_set(self) -> str:
        """The name of the figures drawn for it (`analysis.figures.sets`)."""
        if self.type is None:
            return RUNS
        return self.type.figures or DEFAULT_FIGURES


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
    spec = read_spec(spec_path) if spec_path is not None else None
    study_type, source = type_of(epochs, spec, spec_path)
    tune_dir = spec_path.parent if spec_path is not None else None
    problems = problems_of(epochs, layers, spec, tune_dir, epochs_path.stat().st_mtime)
    return Study(name, epochs, layers, study_type, kind_source=source, problems=tuple(problems))


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
    return Study(path.stem, epochs, layers, kind_source=f"the run table {path}")
