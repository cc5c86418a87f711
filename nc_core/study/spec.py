"""What a study is (`StudySpec`) and how and where it runs (`StudyOptions`): no Ray, no Optuna.

A study script builds both and hands them to `nc_core.tune.run.run_study`; `nc_core.study.checks`
refuses a bad pair before any work, `nc_core.cli.study` builds both from a command line.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields
from typing import Literal

from nc_core.fields import check_choices
from nc_core.results.records import EpochRecord
from nc_core.study.declaration import StudyType
from nc_core.train.config import RunConfig
from nc_core.train.keys import canonical_keys, upgrade_keys

# An EpochRecord's scalar fields: what a trial reports to Tune as numbers (the two lists of layer
# names are reported as comma-joined text, `nc_core.study.results.reported_metrics`).
LISTS = ("layers", "fixed_layers", "fixed_at_end")
SCALARS = [f.name for f in fields(EpochRecord) if f.name not in LISTS]
MAX_NAME = 100  # a study's name is a folder name, with room for Tune's and our suffixes
NAME_FORM = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_NAME}}}")
RESOURCE_STEP = 0.0001  # Ray counts CPUs and GPUs in steps of 1/10000; less rounds to 0
DISTRIBUTIONS = ("uniform", "loguniform", "choice")  # of a search space, as Ray Tune names them


@dataclass(frozen=True)
class StudySpec:
    """One study: a grid of explicit trials, or a search space sampled `num_samples` times.

    `trials`: each trial's overrides of `base` (RunConfig fields). `space`: field -> (distribution,
    *args) with distribution one of `DISTRIBUTIONS`, e.g. {"eps": ("loguniform", 0.01, 0.3)},
    searched by Optuna for `objectives` ((metric, "max" | "min"), ...) of the last epoch.
    `study_type`: what kind of study it is (`nc_core.study.declaration`), stored beside it for
    the analysis; not part of what identifies it (`describe`), so declaring a title or figure
    set later still resumes a stored study.
    """

    name: str
    base: RunConfig
    trials: tuple[dict, ...] = ()
    space: dict[str, tuple] = field(default_factory=dict)
    num_samples: int = 0
    objectives: tuple[tuple[str, str], ...] = (("test_acc", "max"),)
    study_type: StudyType | None = None

    def __post_init__(self) -> None:
        if not NAME_FORM.fullmatch(self.name):  # a folder name on every file system and in S3
            raise ValueError(
                f"StudySpec.name={self.name!r}: use 1 to {MAX_NAME} ASCII letters, digits, '_' "
                "and '-'"
            )
        if bool(self.trials) == bool(self.space):
            raise ValueError(
                f"StudySpec {self.name!r}: give either `trials` or `space`, not both or neither"
            )
        model = self.base.model
        canonical, runs = [], {}
        for i, overrides in enumerate(self.trials):
            try:  # each trial's keys as flat config keys (`width` -> `mlp_width`), checked
                keys = canonical_keys(overrides.get("model", model), overrides)
                run = repr(sorted(self.base.replace(**keys).validate().to_dict().items()))
            except ValueError as err:
                raise ValueError(f"StudySpec {self.name!r} trial {i}: {err}") from None
            if run in runs:  # an identical trial repeats a result, and fakes a spread of 0
                raise ValueError(
                    f"StudySpec {self.name!r}: trials {runs[run]} and {i} are the same run "
                    f"({overrides}); give each trial once"
                )
            runs[run] = i
            canonical.append(keys)
        object.__setattr__(self, "trials", tuple(canonical))
        space = {}
        for key, (dist, *args) in self.space.items():
            flat = next(iter(canonical_keys(model, {key: None})))
            if dist not in DISTRIBUTIONS or flat not in self.base.to_dict() or flat == "model":
                raise ValueError(
                    f"StudySpec {self.name!r} space[{key!r}]: expected a RunConfig "
                    f"field or model option and a distribution in {tuple(DISTRIBUTIONS)}"
                )
            space[flat] = (dist, *args)
        object.__setattr__(self, "space", space)
        if self.space and self.num_samples < 1:
            raise ValueError(f"StudySpec.num_samples={self.num_samples}: a search needs >= 1")
        for metric, mode in self.objectives:
            if metric not in SCALARS or mode not in ("max", "min"):
                raise ValueError(
                    f"StudySpec objective ({metric!r}, {mode!r}): expected an "
                    f"EpochRecord scalar {SCALARS} and 'max' or 'min'"
                )
        self.base.validate()

    def describe(self) -> dict:
        """What identifies the study: rerunning with the same description resumes it."""
        return {
            "name": self.name,
            "base": self.base.to_dict(),
            "trials": [dict(t) for t in self.trials],
            "space": {k: list(v) for k, v in self.space.items()},
            "num_samples": self.num_samples,
            "objectives": [list(o) for o in self.objectives],
        }


Scheduler = Literal["none", "asha"]
Verbosity = Literal[0, 1, 2]


def _help(text: str) -> dict:
    return {"help": text}


@dataclass(frozen=True)
class StudyOptions:
    """How and where a study runs: the options every study script shares, each declared once
    here (its type, default and help make the flag: nc_core.cli.args.add_fields)."""

    address: str | None = field(
        default=None,
        metadata=_help("Ray to use: none starts a local one in-process; 'auto' joins a cluster"),
    )
    storage: str = field(
        default="results/ray",
        metadata=_help("Tune storage: a path, shared path or s3:// URI (writable by you alone)"),
    )
    results: str = field(default="results", metadata=_help("the tables go to RESULTS/<name>/"))
    num_cpus: int | None = field(
        default=None, metadata=_help("CPUs of the local Ray (none: all of this machine's)")
    )
    cpus_per_trial: float = field(default=1.0, metadata=_help("CPUs (and torch threads) per trial"))
    gpus_per_trial: float | None = field(
        default=None,
        metadata=_help("GPUs per trial, fractions share a GPU (none: 1 if the cluster has one)"),
    )
    max_concurrent: int | None = field(
        default=None, metadata=_help("most trials at once (none: as resources allow)")
    )
    scheduler: Scheduler = field(
        default="none",
        metadata=_help("asha: stop trials whose test accuracy lags, early (status 'stopped')"),
    )
    max_failures: int = field(
        default=2, metadata=_help("restarts of a crashed trial from its checkpoint")
    )
    checkpoint_every: int = field(
        default=1, metadata=_help("checkpoint the training state every N epochs")
    )
    fail_at_epoch: int | None = field(
        default=None, metadata=_help("testing: each trial's first attempt crashes at this epoch")
    )
    export_only: bool = field(
        default=False, metadata=_help("rebuild the Parquet from storage; train nothing")
    )
    seed: int = field(default=0, metadata=_help("the search's sampler seed"))
    tensorboard: str | None = field(
        default=None,
        metadata=_help("write TensorBoard event files of each trial to DIR/<trial name>"),
    )
    verbose: Verbosity = field(
        default=1,
        metadata=_help(
            "console: 0 a line per finished trial; 1 that and a progress bar on a terminal; "
            "2 Tune's status table and a line per trial per epoch"
        ),
    )

    @property
    def local(self) -> bool:
        """Whether the study starts its own Ray on this machine (no --address)."""
        return self.address in (None, "", "local")

    def __post_init__(self) -> None:
        check_choices(self)
        for name in ("cpus_per_trial", "gpus_per_trial"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"StudyOptions.{name}={value}: must be a finite number")
        for name in ("cpus_per_trial", "checkpoint_every"):
            if not getattr(self, name) > 0:
                raise ValueError(f"StudyOptions.{name}={getattr(self, name)}: must be > 0")
        for name in ("cpus_per_trial", "gpus_per_trial"):
            value = getattr(self, name)
            if value is not None and 0 < value < RESOURCE_STEP:
                raise ValueError(
                    f"StudyOptions.{name}={value}: Ray counts resources in steps of "
                    f"{RESOURCE_STEP}; pass {RESOURCE_STEP} or more (or 0 GPUs)"
                )
        for name in ("num_cpus", "max_concurrent", "fail_at_epoch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"StudyOptions.{name}={value}: must be >= 1 (or unset)")
        for name in ("max_failures", "gpus_per_trial", "seed"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"StudyOptions.{name}={value}: must be >= 0")
        if self.local:
            cpus = self.num_cpus or os.cpu_count() or 1
            if self.cpus_per_trial > cpus:
                raise ValueError(
                    f"StudyOptions.cpus_per_trial={self.cpus_per_trial}: the local Ray has "
                    f"{cpus} CPUs; a trial needing more would wait forever"
                )


def comparable(description: dict) -> dict:
    """A stored `StudySpec.describe()` in today's names, so that a study described by nc-core
    0.1 (a flat base with `width`, trials setting `depth`) compares equal to the same study
    described now."""
    out = dict(description)
    base = out.get("base")
    if isinstance(base, dict):
        cfg = RunConfig.from_dict(base)
        out["base"] = cfg.to_dict()
        model = cfg.model
        out["trials"] = [
            canonical_keys(t.get("model", model), upgrade_keys(t)) for t in out.get("trials", [])
        ]
        out["space"] = {
            next(iter(canonical_keys(model, upgrade_keys({k: None})))): v
            for k, v in out.get("space", {}).items()
        }
    return out
