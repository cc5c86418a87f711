"""Fixing layers before vs after the effective depth, over MLP widths and depths (Liu, arXiv
2412.00884, Figure 1).

For every (width, depth) the baseline shows where neural collapse sets in: its effective depth
at eps (`nc_core.measure.depth`) is the first layer from which on every layer has train NCC error <= eps.
StaticETF then fixes every layer from `fix_from` on to a simplex ETF before training, for each
fix_from in 1..depth-1 (fc1, fed by the raw input, is always trained). The paper's claim:
fixing from at or after the effective depth costs little test accuracy; fixing earlier costs
more.

    python studies/depth_width.py --preset smoke          # CI: < 2 min on 2 CPUs
    python studies/depth_width.py --preset quick --widths 100 400 --depths 4 8
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from nc_core.train.config import KINDS
from nc_core.measure.depth import effective_depths, format_depth
from nc_core.study.spec import StudySpec
from nc_core.cli.study import (
    add_study_args,
    base_config,
    checked_study,
    print_wide,
    study_name,
    study_parser,
)
from nc_core.study.summary import final_epochs, summarize_final
from nc_core.tune.run import run_study

WIDTHS = {"smoke": (32,), "quick": (100, 400), "paper": (100, 200, 400, 800)}
DEPTHS = {"smoke": (3,), "quick": (4, 8), "paper": (4, 6, 8, 10)}
SEEDS = {"smoke": (0,), "quick": (0,), "paper": (0, 1, 2)}


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
    """Each baseline trial's effective depth at eps at its last epoch (`nc_core.measure.depth`; the
    layer index, "none" where the output layer does not qualify)."""
    base = layers[layers.policy == "none"]
    last = base[base.epoch == base.groupby("trial_id").epoch.transform("max")]
    depth = effective_depths(last, eps).droplevel("epoch")
    shape = last.groupby("trial_id")[["width", "depth", "seed"]].first()
    return shape.assign(effective_depth=depth.map(format_depth)).reset_index()


def summarize(epochs: pd.DataFrame) -> pd.DataFrame:
    """Final test accuracy per (width, depth, fix_from), averaged over seeds (-1: baseline)."""
    last = final_epochs(epochs)
    last = last.assign(fix_from=last.fix_from.where(last.policy == "static", -1).astype(int))
    return summarize_final(last, ["width", "depth", "fix_from"])


def build_spec(args: argparse.Namespace) -> StudySpec:
    p = args.preset
    trials = trial_list(
        args.widths or WIDTHS[p], args.depths or DEPTHS[p], args.seeds or SEEDS[p], args.kind
    )
    return StudySpec(
        name=study_name(args, "depth_width"), base=base_config(args), trials=tuple(trials)
    )


def main(argv=None) -> int:
    parser = study_parser(__doc__)
    add_study_args(parser, name="depth_width")
    parser.add_argument("--widths", type=int, nargs="+", help="MLP widths (default: per preset)")
    parser.add_argument("--depths", type=int, nargs="+", help="MLP depths (default: per preset)")
    parser.add_argument(
        "--kind",
        default="canonical",
        choices=KINDS,
        help="what the fixed layers become",
    )
    parser.add_argument(
        "--eps",
        type=float,
        default=0.1,
        help="NCC-error threshold of the effective depth printed at the end",
    )
    args = parser.parse_args(argv)
    spec, opts = checked_study(parser, args, build_spec)  # bad input: exit 2 here
    result = run_study(spec, opts)
    epochs, layers = result.epochs, result.layers
    if epochs.empty:
        return result.exit_code
    print_wide(
        f"effective depth at eps={args.eps} (baseline, last epoch):",
        baseline_depths(layers, args.eps),
        summarize(epochs),
    )
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
