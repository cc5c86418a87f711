"""Studies without Ray: what a study is (`StudySpec`), how it runs (`StudyOptions`), the command
line every study script shares, and Ray-free helpers for its result tables.

`nc_core.tune_adapter` runs a `StudySpec` on Ray Tune; this module imports neither Ray nor Optuna.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from nc_core.atomic import write_atomic
from nc_core.config import PRESETS, RunConfig, preset
from nc_core.records import EpochRecord

CONFIG_FIELDS = {f.name: f for f in fields(RunConfig)}
SCALARS = [f.name for f in fields(EpochRecord) if f.name not in ("layers", "fixed_layers")]
DISTRIBUTIONS = ("uniform", "loguniform", "choice")  # of a search space, as Ray Tune names them


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


@dataclass(frozen=True)
class StudyOptions:
    """How and where a study runs; the command line of every study (`add_study_args`)."""

    address: str | None = None  # None: start a local Ray in-process; "auto": join a cluster
    storage: str = "results/ray"  # Tune's experiments: a path, shared path or cloud URI
    results: str = "results"  # where <study>/epochs.parquet and layers.parquet go
    num_cpus: int | None = None  # CPUs of a local Ray (None: all)
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None  # None: 1 when the cluster has a GPU, else 0
    max_concurrent: int | None = None
    scheduler: str = "none"  # "asha": stop trials whose test accuracy lags, early
    max_failures: int = 2
    checkpoint_every: int = 1
    fail_at_epoch: int | None = None
    export_only: bool = False
    seed: int = 0  # the search's sampler seed
    verbose: int = 1

    def __post_init__(self) -> None:
        if self.scheduler not in ("none", "asha"):
            raise ValueError(f"StudyOptions.scheduler={self.scheduler!r}: expected none or asha")
        for name in ("cpus_per_trial", "checkpoint_every"):
            if not getattr(self, name) > 0:
                raise ValueError(f"StudyOptions.{name}={getattr(self, name)}: must be > 0")
        if self.max_failures < 0 or (self.gpus_per_trial or 0) < 0:
            raise ValueError(
                f"StudyOptions max_failures={self.max_failures}, gpus_per_trial="
                f"{self.gpus_per_trial}: must be >= 0"
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


def add_study_args(parser: argparse.ArgumentParser, *, name: str) -> None:
    """The options every study shares (README: "Running studies")."""
    a = parser.add_argument
    a(
        "--preset",
        choices=("smoke", "quick", "paper"),
        default="quick",
        help="smoke: < 2 min on 2 CPUs (CI); quick: about an hour on a CPU; paper: GPUs",
    )
    a("--seeds", type=int, nargs="+", help="seeds to run (default: per preset)")
    a(
        "--name",
        help=f"study name: the Tune experiment and results/<name>/ (default: {name}-PRESET)",
    )
    a("--dataset", choices=("fashion_mnist", "synthetic"), help="override the preset's dataset")
    a(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override any RunConfig field of the preset, e.g. --set epochs=10 (repeatable)",
    )
    a("--address", help="Ray to use: default a new local one in-process; 'auto' joins a cluster")
    a("--storage", default="results/ray", help="Tune storage: a path, shared path or s3:// URI")
    a("--results", default="results", help="the Parquet tables go to RESULTS/<name>/")
    a("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    a("--cpus-per-trial", type=float, default=1.0, help="CPUs (and torch threads) per trial")
    a(
        "--gpus-per-trial",
        type=float,
        help="GPUs per trial, fractions share a GPU (default: 1 if the cluster has one, else 0)",
    )
    a(
        "--max-concurrent",
        type=int,
        help="most trials running at once (default: as resources allow)",
    )
    a(
        "--scheduler",
        choices=("none", "asha"),
        default="none",
        help="asha: stop trials whose test accuracy lags early (their status is 'stopped')",
    )
    a("--max-failures", type=int, default=2, help="restarts of a crashed trial from its checkpoint")
    a(
        "--checkpoint-every",
        type=int,
        default=1,
        help="checkpoint the training state every N epochs",
    )
    a("--fail-at-epoch", type=int, help="testing: each trial's first attempt crashes at this epoch")
    a("--export-only", action="store_true", help="rebuild the Parquet from storage; train nothing")
    a("--verbose", type=int, default=1, choices=(0, 1, 2), help="Tune's console output")


def study_name(args: argparse.Namespace, stem: str) -> str:
    """`--name`, else `stem-PRESET` (`eps_sweep-smoke`): each preset is its own study, so
    running one size never collides with a study of another."""
    return args.name or f"{stem}-{args.preset}"


def options_from_args(args: argparse.Namespace, *, seed: int = 0) -> StudyOptions:
    return StudyOptions(
        address=args.address,
        storage=args.storage,
        results=args.results,
        num_cpus=args.num_cpus,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        scheduler=args.scheduler,
        max_failures=args.max_failures,
        checkpoint_every=args.checkpoint_every,
        fail_at_epoch=args.fail_at_epoch,
        export_only=args.export_only,
        seed=seed,
        verbose=args.verbose,
    )


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
    kind = str(CONFIG_FIELDS[key].type)
    if text.lower() == "none" and "None" in kind:
        return None
    if kind.startswith("bool"):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"--set {key}={text!r}: expected true or false")
        return text.lower() in ("true", "1")
    for name, cast in (("int", int), ("float", float)):
        if kind.startswith(name):
            try:
                return cast(text)
            except ValueError:
                raise ValueError(f"--set {key}={text!r}: expected {name}") from None
    return text


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
