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

from nc_core.cli.study import base_config, study_main, study_name
from nc_core.fields import choices
from nc_core.models.vit_fixing import ViTOptions, parse_blocks
from nc_core.study.declaration import PaperNumber, StudyType
from nc_core.study.registry import register_study
from nc_core.study.spec import StudySpec
from nc_core.train.config import KINDS

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
LINEAR_CHOICES = choices(ViTOptions, "etf_linears")


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


def _per_preset(grid: dict[str, tuple[str, ...]]) -> str:
    return "; ".join(f"{p} {' '.join(v)}" for p, v in grid.items())


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--blocks",
        nargs="+",
        help="etf_blocks choices besides none: all, last:N, first:N, 0,2 ... (default by "
        f"preset: {_per_preset(BLOCKS)})",
    )
    parser.add_argument(
        "--linears",
        nargs="+",
        choices=LINEAR_CHOICES,
        help=f"which feedforward linears (default by preset: {_per_preset(LINEARS)})",
    )
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=KINDS,
        help=f"what the fixed linears become (default by preset: {_per_preset(KIND_GRID)})",
    )


def build_spec(args: argparse.Namespace) -> StudySpec:
    p = args.preset
    trials = trial_list(
        args.blocks or BLOCKS[p],
        args.linears or LINEARS[p],
        args.kinds or KIND_GRID[p],
        args.seeds,
    )
    base = base_config(args, prefix=STUDY.preset_prefix)
    for t in trials:  # a bad block spec fails here, not inside a trial
        parse_blocks(t["etf_blocks"], base.arch.depth)
    return StudySpec(name=study_name(args, STUDY.name), base=base, trials=tuple(trials))


STUDY = register_study(
    StudyType(
        name="vit_blocks",
        title="ETF feedforward blocks (ViT)",
        method="ETF-Transformer",
        arm_keys=("vit_etf_blocks", "vit_etf_linears", "kind"),
        figures="vit_ffn",
        paper=(
            # Liu, arXiv 2412.00884, Fashion-MNIST; the baseline's test accuracy is not reported.
            PaperNumber("ETF-Transformer (ViT)", "method", train=93.23, test=89.78),
            PaperNumber("ViT baseline", "baseline", train=93.91),
        ),
        marks=(("model", "vit"),),
    ),
    doc=__doc__,
    options=add_options,
    build=build_spec,
    summary_keys=("vit_etf_blocks", "vit_etf_linears", "kind"),
    summary_blank={"vit_etf_linears": "-", "kind": "-"},
    preset_prefix="vit-",  # --preset smoke runs the preset vit-smoke
)


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, argv)


if __name__ == "__main__":
    sys.exit(main())
