"""Fixing layers before vs after the effective depth, over MLP widths and depths (Liu, arXiv
2412.00884, Figure 1).

For every (width, depth) the baseline shows where neural collapse sets in: its effective depth
at eps (`nc_core.measure.depth`), printed by both definitions: the ε-effective depth of Galanti,
Galanti & Ben-Shaul 2022 (the lowest layer with train NCC error <= eps) and the collapsed suffix
(the first layer from which on every layer has train NCC error <= eps). StaticETF then fixes
every layer from `fix_from` on to a simplex ETF before training, for each fix_from in
1..depth-1 (fc1, fed by the raw input, is always trained). The paper's claim: fixing from at or
after the effective depth costs little test accuracy; fixing earlier costs more.

    python studies/depth_width.py --preset smoke          # CI: < 2 min on 2 CPUs
    python studies/depth_width.py --preset quick --widths 100 400 --depths 4 8
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from nc_core.cli.study import base_config, distinct, study_main, study_name
from nc_core.measure.depth import DEFINITIONS, effective_depths, format_depth
from nc_core.study.declaration import StudyType
from nc_core.study.registry import register_study
from nc_core.study.spec import StudySpec
from nc_core.train.config import KINDS

WIDTHS = {"smoke": (32,), "quick": (100, 400), "paper": (100, 200, 400, 800)}
DEPTHS = {"smoke": (3,), "quick": (4, 8), "paper": (4, 6, 8, 10)}


def trial_list(widths, depths, seeds, kind: str = "canonical") -> list[dict]:
    """Per (width, depth, seed): the baseline, then StaticETF for every fix_from in 1..depth-1."""
    trials = []
    for width in widths:
        for depth in depths:
            for seed in seeds:
                shape = dict(width=width, depth=depth, seed=seed)
                trials.append(dict(shape, policy="none"))
                trials += [
                    dict(shape, policy="static", fix_from=k, kind=kind) for k in range(1, depth)
                ]
    return trials


def baseline_depths(layers: pd.DataFrame, eps: float) -> pd.DataFrame:
    """Each baseline trial's effective depth at eps at its last epoch by each definition
    (`nc_core.measure.depth.DEFINITIONS`: columns `lowest` and `suffix`, the layer index, "none"
    where no layer qualifies)."""
    base = layers[layers.policy == "none"]
    last = base[base.epoch == base.groupby("trial_id").epoch.transform("max")]
    shape = last.groupby("trial_id")[["mlp_width", "mlp_depth", "seed"]].first()
    for definition in DEFINITIONS:
        depth = effective_depths(last, eps, definition=definition).droplevel("epoch")
        shape[definition] = depth.reindex(shape.index).map(format_depth)
    return shape.reset_index()


def _per_preset(grid: dict[str, tuple[int, ...]]) -> str:
    return "; ".join(f"{p} {' '.join(map(str, v))}" for p, v in grid.items())


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--widths",
        type=int,
        nargs="+",
        help=f"MLP widths (default by preset: {_per_preset(WIDTHS)})",
    )
    parser.add_argument(
        "--depths",
        type=int,
        nargs="+",
        help=f"MLP depths (default by preset: {_per_preset(DEPTHS)})",
    )
    parser.add_argument(
        "--kind",
        default="canonical",
        choices=KINDS,
        help="what the fixed layers become (default: canonical)",
    )
    parser.add_argument(
        "--eps",
        type=float,
        default=0.1,
        help="NCC-error threshold of the effective depth printed at the end (default: 0.1)",
    )


def build_spec(args: argparse.Namespace) -> StudySpec:
    p = args.preset
    if not 0.0 <= args.eps <= 1.0:
        raise ValueError(f"--eps {args.eps}: an NCC error threshold must lie in [0, 1], e.g. 0.1")
    widths = distinct("--widths", args.widths or WIDTHS[p])
    depths = distinct("--depths", args.depths or DEPTHS[p])
    trials = trial_list(widths, depths, args.seeds, args.kind)
    return StudySpec(
        name=study_name(args, STUDY.name), base=base_config(args), trials=tuple(trials)
    )


def summary(args: argparse.Namespace, spec: StudySpec, result) -> list:
    """The baselines' effective depths, then final accuracy per (width, depth, fix_from)."""
    return [
        f"effective depth at eps={args.eps} (baseline, last epoch); lowest: the lowest layer with "
        "train NCC error <= eps (Galanti, Galanti & Ben-Shaul 2022); suffix: the first layer "
        "from which every layer to the output is <= eps:",
        baseline_depths(result.layers, args.eps),
        STUDY.summarize(result.epochs),
    ]


STUDY = register_study(
    StudyType(
        name="depth_width",
        title="StaticETF before/after the effective depth (MLP widths x depths)",
        method="StaticETF",
        arm_keys=("fix_from", "kind"),
        figures="fix_from",
        marks=(("policy", "static"),),
    ),
    doc=__doc__,
    options=add_options,
    build=build_spec,
    summary_keys=("mlp_width", "mlp_depth", "fix_from"),
    summary_blank={"fix_from": -1},  # the baseline fixes nothing
    summary=summary,
)


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, argv)


if __name__ == "__main__":
    sys.exit(main())
