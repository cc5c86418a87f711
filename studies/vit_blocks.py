"""ETF-Transformer: which ViT feedforward layers can be fixed to simplex ETFs (Liu, arXiv
2412.00884, the ETF-Transformer experiments).

Each trial fixes, from the start, the feedforward linears (fc1, fc2 or both) of some blocks
(none, the last N, or all) to ETFs of one kind (canonical, rotated) or to a control (orthogonal:
a random isometry at the ETF's scale; freeze: the random initialisation kept), and trains the
rest. The baseline ("none") trains everything. Compare final test accuracy against trainable
parameters.

    python studies/vit_blocks.py --preset smoke           # CI: < 2 min on 2 CPUs
    python studies/vit_blocks.py --preset quick --kinds canonical rotated
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from nc_core.cli.args import choices
from nc_core.train.config import KINDS, RunConfig
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
from nc_core.models.vit_fixing import parse_blocks

BLOCKS = {
    "smoke": ("last:1", "all"),
    "quick": ("last:2", "last:4", "all"),
    "paper": ("last:1", "last:3", "all"),
}
LINEARS = {"smoke": ("both",), "quick": ("fc1", "fc2", "both"), "paper": ("fc1", "fc2", "both")}
KIND_GRID = {
    "smoke": ("canonical",),
    "quick": ("canonical", "rotated", "orthogonal"),
    "paper": KINDS,
}
LINEAR_CHOICES = choices(RunConfig, "etf_linears")
SEEDS = {"smoke": (0,), "quick": (0,), "paper": (0, 1, 2)}


def trial_list(blocks, linears, kinds, seeds) -> list[dict]:
    """Per seed: the baseline (no ETF), then every (blocks, linears, kind)."""
    trials = []
    for seed in seeds:
        trials.append(dict(etf_blocks="none", seed=seed))
        trials += [
            dict(etf_blocks=b, etf_linears=lin, kind=k, seed=seed)
            for b in blocks
            if b != "none"
            for lin in linears
            for k in kinds
        ]
    return trials


def summarize(epochs: pd.DataFrame) -> pd.DataFrame:
    """Final test accuracy and trainable parameters per choice, averaged over seeds."""
    last = final_epochs(epochs)
    none = last.etf_blocks == "none"
    last = last.assign(
        etf_linears=last.etf_linears.where(~none, "-"), kind=last.kind.where(~none, "-")
    )
    return summarize_final(last, ["etf_blocks", "etf_linears", "kind"])


def build_spec(args: argparse.Namespace) -> StudySpec:
    p = args.preset
    trials = trial_list(
        args.blocks or BLOCKS[p],
        args.linears or LINEARS[p],
        args.kinds or KIND_GRID[p],
        args.seeds or SEEDS[p],
    )
    base = base_config(args, prefix="vit-")
    for t in trials:  # a bad block spec fails here, not inside a trial
        parse_blocks(t["etf_blocks"], base.vit_depth)
    return StudySpec(name=study_name(args, "vit_blocks"), base=base, trials=tuple(trials))


def main(argv=None) -> int:
    parser = study_parser(__doc__)
    add_study_args(parser, name="vit_blocks")
    parser.add_argument(
        "--blocks", nargs="+", help="etf_blocks choices besides none: all, last:N, first:N, 0,2 ..."
    )
    parser.add_argument(
        "--linears", nargs="+", choices=LINEAR_CHOICES, help="which feedforward linears"
    )
    parser.add_argument("--kinds", nargs="+", choices=KINDS, help="what the fixed linears become")
    args = parser.parse_args(argv)
    spec, opts = checked_study(parser, args, build_spec)  # bad input: exit 2 here
    result = run_study(spec, opts)
    if result.epochs.empty:
        return result.exit_code
    print_wide(summarize(result.epochs))
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
