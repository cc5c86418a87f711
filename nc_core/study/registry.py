"""Studies by name: each declared once, in its own file, by `register_study`.

    STUDY = register_study(
        StudyType(name="my_sweep", title="Adaptive-ETF over lr", method="Adaptive-ETF",
                  arm_keys=("lr", "kind")),
        doc=__doc__,
        options=add_options,      # (parser) -> None: the study's own flags
        build=build_spec,         # (args) -> StudySpec: its trials or search space
        summary_keys=("lr", "kind"),
    )

The built-in studies are the modules of the studies folder (installed: the package
`nc_core.studies`; in a checkout: `studies/`), found by listing it (`builtin_names`); a study
declared anywhere else registers itself when its module is imported (run as a script, or named
in `NC_PLUGINS`). Its `StudyType` travels with every study it runs (`nc_core.study.checks.claim`),
so the analysis draws it without importing its file. No Ray here, and no command line: a study
file imports `nc_core.tune` only when it runs (`nc_core.cli.study.study_main`).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pandas as pd

from nc_core.registry import Registry
from nc_core.results.records import is_baseline
from nc_core.study.declaration import StudyType
from nc_core.study.spec import StudySpec
from nc_core.study.summary import final_epochs, summarize_final

if TYPE_CHECKING:
    from nc_core.study.results import StudyResult

PACKAGES = ("nc_core.studies", "studies")  # installed, then a checkout's folder
DEFAULT_SEEDS = {"smoke": (0,), "quick": (0,), "paper": (0, 1, 2)}
SpecBuilder = Callable[[argparse.Namespace], StudySpec]
Summary = Callable[[argparse.Namespace, StudySpec, "StudyResult"], list]


@dataclass(frozen=True)
class StudyEntry:
    """One declared study: what it is (`type`) and how its command line builds it.

    `doc`: the script's docstring (its first paragraph describes the command line); `build`:
    the StudySpec of parsed arguments, whose `seeds` are already resolved (`seeds`: the default
    per preset); `options`: adds the study's own flags; `summary_keys`: what the console table
    at the end groups by, with `summary_blank[key]` shown for baseline rows (where the key
    means nothing); `summary`: the parts to print instead (lines and tables), given the
    arguments, the spec and the result; `source`: the declaring file; `preset_prefix`: what
    `--preset P` names (`vit-`: the preset `vit-P`), for `base_config` and --help."""

    type: StudyType
    doc: str
    build: SpecBuilder
    options: Callable[[argparse.ArgumentParser], None] | None = None
    seeds: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: dict(DEFAULT_SEEDS))
    summary_keys: tuple[str, ...] = ()
    summary_blank: Mapping[str, object] = field(default_factory=dict)
    summary: Summary | None = None
    source: str = ""
    preset_prefix: str = ""

    @property
    def name(self) -> str:
        """The study type's name: its file's stem, the default study name."""
        return self.type.name

    def summarize(self, epochs: pd.DataFrame) -> pd.DataFrame:
        """The console table: final epochs averaged over seeds per `summary_keys`."""
        last = final_epochs(epochs)
        base = is_baseline(last)
        for key, blank in self.summary_blank.items():
            column = last[key].where(~base, blank)
            last[key] = column.astype("int64") if isinstance(blank, int) else column
        return summarize_final(last, list(self.summary_keys or ("policy", "kind")))

    def summary_parts(
        self, args: argparse.Namespace, spec: StudySpec, result: StudyResult
    ) -> list[str | pd.DataFrame]:
        """What the study prints when it has finished: `summary`'s parts, else `summarize`."""
        if self.summary is not None:
            return list(self.summary(args, spec, result))
        return [self.summarize(result.epochs)]


STUDIES: Registry[StudyEntry] = Registry("study")


def register_study(
    study_type: StudyType,
    *,
    doc: str,
    build: SpecBuilder,
    options: Callable[[argparse.ArgumentParser], None] | None = None,
    seeds: Mapping[str, tuple[int, ...]] | None = None,
    summary_keys: tuple[str, ...] = (),
    summary_blank: Mapping[str, object] | None = None,
    summary: Summary | None = None,
    preset_prefix: str = "",
) -> StudyEntry:
    """Declare a study and register it by its type's name; returns its entry. ValueError when
    another file has registered the name, or the seeds or blanks cannot work."""
    seeds = dict(DEFAULT_SEEDS if seeds is None else seeds)
    for preset_name, values in seeds.items():
        if not values or not all(isinstance(s, int) and s >= 0 for s in values):
            raise ValueError(
                f"study {study_type.name!r}: seeds[{preset_name!r}]={values!r}, expected one "
                "or more integers >= 0"
            )
    blank = dict(summary_blank or {})
    stray = sorted(set(blank) - set(summary_keys))
    if stray:
        raise ValueError(
            f"study {study_type.name!r}: summary_blank names {stray}, which are not "
            f"summary_keys {list(summary_keys)}"
        )
    source = str(Path(inspect.getfile(build)).resolve())
    entry = StudyEntry(
        type=study_type,
        doc=doc or "",
        build=build,
        options=options,
        seeds=seeds,
        summary_keys=tuple(summary_keys),
        summary_blank=blank,
        summary=summary,
        source=source,
        preset_prefix=preset_prefix,
    )
    if study_type.name in STUDIES and STUDIES.get(study_type.name).source != source:
        raise ValueError(
            f"study {study_type.name!r} is declared already (by "
            f"{STUDIES.get(study_type.name).source}); pick another name"
        )
    return STUDIES.add(study_type.name, entry, module=source)


def studies_package() -> ModuleType:
    """The package of the built-in studies: `nc_core.studies` installed, else `studies`."""
    for name in PACKAGES:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
    raise ModuleNotFoundError(
        f"no studies package: neither {' nor '.join(PACKAGES)} can be imported; install "
        "nc-core, or run from a checkout (the repository root on sys.path)"
    )


def builtin_names() -> tuple[str, ...]:
    """The built-in studies: one module per study in the studies folder, by name (sorted)."""
    package = studies_package()
    found = pkgutil.iter_modules(package.__path__)
    return tuple(sorted(m.name for m in found if not m.ispkg and not m.name.startswith("_")))


def study_names() -> tuple[str, ...]:
    """The built-in studies, then any other study registered in this process."""
    builtin = builtin_names()
    return builtin + tuple(n for n in STUDIES.names() if n not in builtin)


def get_study(name: str) -> StudyEntry:
    """The study `name`: a built-in one is imported from the studies folder; ValueError naming
    the known studies otherwise."""
    if name in builtin_names():
        module = importlib.import_module(f"{studies_package().__name__}.{name}")
        entry = getattr(module, "STUDY", None)
        if not isinstance(entry, StudyEntry) or entry.name != name:
            raise ValueError(
                f"{module.__file__}: expected STUDY = register_study(StudyType(name={name!r}, "
                "...), ...) in the study's file"
            )
        return entry
    if name not in STUDIES:
        for other in builtin_names():  # the error lists every study, built-in ones included
            get_study(other)
    return STUDIES.get(name)


def builtin_types() -> tuple[StudyType, ...]:
    """The StudyType of every built-in study, by name."""
    return tuple(get_study(name).type for name in builtin_names())
