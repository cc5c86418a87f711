"""Studies without Ray: what a study is (`StudySpec`), how it runs (`StudyOptions`), the command
line every study script shares, and Ray-free helpers for its result tables.

`nc_core.tune_adapter` runs a `StudySpec` on Ray Tune; this module imports neither Ray nor Optuna.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow.fs

from nc_core.atomic import check_writable, write_atomic
from nc_core.cmdline import Parser, add_fields, check_choices, choices, given, parse_value
from nc_core.config import RunConfig
from nc_core.presets import PRESETS, preset
from nc_core.records import EpochRecord

CONFIG_FIELDS = {f.name: f for f in fields(RunConfig)}
SCALARS = [f.name for f in fields(EpochRecord) if f.name not in ("layers", "fixed_layers")]
DISTRIBUTIONS = ("uniform", "loguniform", "choice")  # of a search space, as Ray Tune names them
SPEC_FILE = "nc_study.json"  # in a study's Tune experiment folder: what the study is


@dataclass(frozen=True)
class StudySpec:
    """One study: a grid of explicit trials, or a search space sampled `num_samples` times.

    `trials`: each trial's overrides of `base` (RunConfig fields). `space`: field -> (distribution,
    *args) with distribution one of `DISTRIBUTIONS`, e.g. {"eps": ("loguniform", 0.01, 0.3)},
    searched by Optuna for `objectives` ((metric, "max" | "min"), ...) of the last epoch.
    """

    name: str
    base: RunConfig
    trials: tuple[dict, ...] = ()
    space: dict[str, tuple] = field(default_factory=dict)
    num_samples: int = 0
    objectives: tuple[tuple[str, str], ...] = (("test_acc", "max"),)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"StudySpec.name={self.name!r}: use letters, digits, '_' and '-'")
        if bool(self.trials) == bool(self.space):
            raise ValueError(
                f"StudySpec {self.name!r}: give either `trials` or `space`, not both or neither"
            )
        for i, overrides in enumerate(self.trials):
            unknown = set(overrides) - set(CONFIG_FIELDS)
            if unknown:
                raise ValueError(
                    f"StudySpec {self.name!r} trial {i}: {sorted(unknown)} are not RunConfig fields"
                )
            self.base.replace(**overrides).validate()
        for key, (dist, *_) in self.space.items():
            if key not in CONFIG_FIELDS or dist not in DISTRIBUTIONS:
                raise ValueError(
                    f"StudySpec {self.name!r} space[{key!r}]: expected a RunConfig "
                    f"field and a distribution in {tuple(DISTRIBUTIONS)}"
                )
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
    here (its type, default and help make the flag: nc_core.cmdline.add_fields)."""

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
    verbose: Verbosity = field(default=1, metadata=_help("Tune's console output"))

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


def check_study(spec: StudySpec, opts: StudyOptions) -> None:
    """Raise ValueError for anything that would fail only after Ray started: a device or GPUs
    this machine lacks (local Ray), outputs that cannot be written, and a different study
    already stored under the same name. Creates nothing."""
    if opts.local:
        import torch

        from nc_core.build import resolve_device

        resolve_device(spec.base.device)
        gpus = torch.cuda.device_count()
        if (opts.gpus_per_trial or 0) > gpus:
            raise ValueError(
                f"StudyOptions.gpus_per_trial={opts.gpus_per_trial}: the local Ray has {gpus} "
                "GPUs; a trial needing more would wait forever"
            )
    if opts.export_only:
        return
    if opts.tensorboard is not None:
        from nc_core.tensorboard import check_tensorboard

        check_tensorboard(opts.tensorboard)
    for name in ("epochs.parquet", "layers.parquet"):
        check_writable(Path(opts.results) / spec.name / name, flag="--results")
    if "://" not in opts.storage:
        check_writable(opts.storage, flag="--storage", directory=True)
    check_claim(spec, f"{storage_uri(opts).rstrip('/')}/{spec.name}")


def storage_uri(opts: StudyOptions) -> str:
    """Tune's storage: a cloud URI as given, a local path made absolute."""
    return opts.storage if "://" in opts.storage else str(Path(opts.storage).resolve())


def study_marker(spec: StudySpec, path: str) -> tuple[pyarrow.fs.FileSystem, str, str]:
    """(file system, marker path, this study's description) of the experiment at `path`."""
    fs, root = pyarrow.fs.FileSystem.from_uri(path)
    return fs, f"{root}/{SPEC_FILE}", json.dumps(spec.describe(), sort_keys=True, indent=1)


def check_claim(spec: StudySpec, path: str) -> None:
    """Raise ValueError when `path` holds a different study (its marker file says which)."""
    fs, marker, mine = study_marker(spec, path)
    if fs.get_file_info(marker).type == pyarrow.fs.FileType.File:
        with fs.open_input_stream(marker) as f:
            theirs = f.read().decode()
        if json.loads(theirs) != json.loads(mine):
            raise ValueError(
                f"--name {spec.name}: {path} holds a different study (other trials, grid or "
                f"base config; see {marker}). Rerun with the original arguments to resume it, "
                "or pass another --storage or --name."
            )


# ---------------------------------------------------------------------------- result tables


def final_epochs(epochs: pd.DataFrame) -> pd.DataFrame:
    """The last epoch row of every trial."""
    return epochs.groupby("trial_id", sort=False).tail(1).reset_index(drop=True)


def pareto_front(df: pd.DataFrame, objectives: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """Rows of `df` that no other row dominates (>= on every objective, > on one)."""
    signs = [1.0 if mode == "max" else -1.0 for _, mode in objectives]
    values = df[[m for m, _ in objectives]].to_numpy(float) * signs  # (N, M), larger is better
    keep = [
        not any(
            (values[j] >= values[i]).all() and (values[j] > values[i]).any()
            for j in range(len(values))
        )
        for i in range(len(values))
    ]
    return df[keep].sort_values(objectives[0][0], ascending=objectives[0][1] == "min")


def write_csv_atomic(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write `df` as CSV through a temporary file and a rename."""
    return write_atomic(path, lambda tmp: df.to_csv(tmp, index=False))


def summarize_final(last: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Final-epoch rows (`final_epochs`) averaged over seeds per `keys`: test accuracy, trainable
    parameters (rounded to an integer), layers fixed, the number of seeds and of trials that did
    not end "ok"; one row per configuration, sorted by `keys` (a missing value first)."""
    table = (
        last.groupby(keys, sort=False, dropna=False)
        .agg(
            test_acc=("test_acc", "mean"),
            trainable_params=("trainable_params", "mean"),
            layers_fixed=("layers_fixed", "mean"),
            seeds=("seed", "nunique"),
            not_ok=("status", lambda s: int((s != "ok").sum())),
        )
        .reset_index()
    )
    table["trainable_params"] = table.trainable_params.round().astype("int64")
    return table.sort_values(keys, na_position="first", kind="stable", ignore_index=True)


# ---------------------------------------------------------------------------- command line


def study_parser(doc: str) -> Parser:
    """A study script's parser (one-line errors), described by its docstring's first paragraph."""
    return Parser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )


def add_study_args(parser: argparse.ArgumentParser, *, name: str) -> None:
    """The options every study shares (README: "Running studies"): what the study is (preset,
    seeds, name, dataset, --set), then every `StudyOptions` field but the sampler seed."""
    a = parser.add_argument
    a(
        "--preset",
        choices=("smoke", "quick", "paper"),
        default="quick",
        help="smoke: < 2 min on 2 CPUs (CI); quick: about an hour on a CPU; paper: GPUs "
        "(default: quick)",
    )
    a("--seeds", type=int, nargs="+", help="seeds to run (default: per preset)")
    a(
        "--name",
        help=f"study name: the Tune experiment and results/<name>/ (default: {name}-PRESET)",
    )
    a("--dataset", choices=choices(RunConfig, "dataset"), help="override the preset's dataset")
    a(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override any RunConfig field of the preset, e.g. --set epochs=10 (repeatable)",
    )
    add_fields(parser, StudyOptions, skip=("seed",))


def study_name(args: argparse.Namespace, stem: str) -> str:
    """`--name`, else `stem-PRESET` (`eps_sweep-smoke`): each preset is its own study, so
    running one size never collides with a study of another."""
    return args.name or f"{stem}-{args.preset}"


def options_from_args(args: argparse.Namespace, *, seed: int = 0) -> StudyOptions:
    """The StudyOptions of parsed arguments (`seed`: the search's sampler seed)."""
    return StudyOptions(**given(args, StudyOptions, skip=("seed",)), seed=seed)


def base_config(args: argparse.Namespace, *, prefix: str = "", **study_fields) -> RunConfig:
    """The preset `prefix + args.preset` with the study's fields, then --dataset and --set."""
    name = prefix + args.preset
    if name not in PRESETS:
        raise ValueError(f"--preset {args.preset!r}: no preset {name!r}")
    overrides = dict(study_fields)
    if args.dataset:
        overrides["dataset"] = args.dataset
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep or key not in CONFIG_FIELDS:
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE with FIELD a RunConfig field")
        overrides[key] = _parse_field(key, text)
    return preset(name, **overrides)


def _parse_field(key: str, text: str):
    """`text` as the type of RunConfig.<key> ("none" gives None where the field allows it)."""
    try:
        return parse_value(RunConfig, key, text)
    except ValueError as err:
        raise ValueError(f"--set {err}") from None


# ---------------------------------------------------------------------------- trial names


def trial_label(overrides: dict) -> str:
    """A trial's readable name from the fields it sets: `eps0.1-rotated-s0`, `baseline-s0`,
    `w32-d3-from1-canonical-s0` (depth_width), `last1-both-canonical-s0` (vit_blocks)."""
    rest = dict(overrides)
    parts = [f"{key[0]}{rest.pop(key)}" for key in ("width", "depth") if key in rest]
    seed, policy, blocks = (
        rest.pop("seed", None),
        rest.pop("policy", None),
        rest.pop("etf_blocks", None),
    )
    if policy == "none" or blocks == "none":
        parts.append("baseline")
    elif policy not in (None, "adaptive", "static"):  # adaptive: eps says it; static: fix_from
        parts.append(str(policy))
    if "eps" in rest:
        parts.append(f"eps{_short(rest.pop('eps'))}")
    if "fix_from" in rest:
        parts.append(f"from{rest.pop('fix_from')}")
    if blocks not in (None, "none"):
        parts.append(str(blocks).replace(":", ""))
    parts += [str(rest.pop(key)) for key in ("etf_linears", "kind") if key in rest]
    parts += [f"{key}{_short(value)}" for key, value in sorted(rest.items())]
    if seed is not None:
        parts.append(f"s{seed}")
    return "-".join(parts) or "base"


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
