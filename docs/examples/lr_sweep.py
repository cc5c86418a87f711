"""Adaptive-ETF against the baseline over the learning rate: the worked example of a study file.

Each seed runs the baseline and Adaptive-ETF (rotated ETFs) at every learning rate; the table
and figures compare them by learning rate. Run it like any study:

    NC_PLUGINS=tiny_mlp.py:blobs.py python lr_sweep.py --preset smoke --model tiny_mlp \
        --dataset blobs
"""

from __future__ import annotations

import argparse
import sys

from nc_core.cli.study import base_config, study_main, study_name
from nc_core.study.declaration import StudyType
from nc_core.study.registry import register_study
from nc_core.study.spec import StudySpec

LRS = {"smoke": (0.01, 0.1), "quick": (0.003, 0.01, 0.03, 0.1), "paper": (0.001, 0.01, 0.1)}


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lrs", type=float, nargs="+", help="learning rates (default: per preset)")


def build_spec(args: argparse.Namespace) -> StudySpec:
    """Per seed and learning rate: the baseline and Adaptive-ETF at eps 0.2."""
    trials = []
    for seed in args.seeds:
        for lr in args.lrs or LRS[args.preset]:
            trials.append(dict(policy="none", lr=lr, seed=seed))
            trials.append(dict(policy="adaptive", eps=0.2, kind="rotated", lr=lr, seed=seed))
    return StudySpec(
        name=study_name(args, STUDY.name), base=base_config(args), trials=tuple(trials)
    )


STUDY = register_study(
    StudyType(
        name="lr_sweep",
        title="Adaptive-ETF over the learning rate",
        method="Adaptive-ETF",
        arm_keys=("kind",),  # the learning rate is a setup: each has its own baseline
    ),
    doc=__doc__,
    options=add_options,
    build=build_spec,
    summary_keys=("policy", "lr"),
)

if __name__ == "__main__":
    sys.exit(study_main(STUDY))
