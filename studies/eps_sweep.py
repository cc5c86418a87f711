"""Adaptive-ETF over the NCC-error threshold eps, against the plain MLP (Liu, arXiv 2412.00884).

Adaptive-ETF fixes a layer to a simplex ETF once its train nearest-class-centre error stays
under eps; a larger eps fixes layers earlier, cutting trainable parameters, perhaps at some test
accuracy. The grid runs the baseline and Adaptive-ETF at every eps (for each kind: canonical,
rotated, freeze) and seed. `--search optuna` instead lets Optuna's sampler pick eps (and with
`--search-lr` the learning rate) for two objectives, test accuracy (max) and trainable
parameters (min), and prints the Pareto front (also saved as results/<name>/pareto.csv).

    python studies/eps_sweep.py --preset smoke            # CI: < 2 min on 2 CPUs
    python studies/eps_sweep.py --preset quick            # about an hour on a CPU
    python studies/eps_sweep.py --preset quick --search optuna --num-samples 20
"""

from __future__ import annotations

import argparse
import sys

from nc_core.cli.study import base_config, study_main, study_name
from nc_core.results.atomic import write_csv_atomic
from nc_core.study.declaration import PaperNumber, StudyType
from nc_core.study.registry import register_study
from nc_core.study.spec import StudySpec
from nc_core.study.summary import final_epochs, pareto_front
from nc_core.train.config import KINDS

EPS_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
SMOKE_EPS = (0.1, 0.3)
SAMPLES = {"smoke": 3, "quick": 12, "paper": 40}
OBJECTIVES = (("test_acc", "max"), ("trainable_params", "min"))


def trial_list(eps_grid, kinds, seeds) -> list[dict]:
    """Per seed: the baseline, then Adaptive-ETF for every (kind, eps)."""
    trials = []
    for seed in seeds:
        trials.append(dict(policy="none", seed=seed))
        trials += [
            dict(policy="adaptive", kind=kind, eps=eps, seed=seed)
            for kind in kinds
            for eps in eps_grid
        ]
    return trials


def search_space(search_lr: bool) -> dict:
    """eps (and the learning rate) for Optuna, log-uniform over the grid's range and beyond."""
    space = {"eps": ("loguniform", 0.005, 0.5)}
    if search_lr:
        space["lr"] = ("loguniform", 1e-3, 1e-1)
    return space


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--eps", type=float, nargs="+", help=f"eps grid (default {EPS_GRID})")
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=["canonical"],
        choices=KINDS,
        help="what a fixed layer becomes",
    )
    parser.add_argument("--search", choices=("grid", "optuna"), default="grid")
    parser.add_argument("--search-lr", action="store_true", help="optuna: search lr as well")
    parser.add_argument("--num-samples", type=int, help="optuna: trials (default: per preset)")


def build_spec(args: argparse.Namespace) -> StudySpec:
    """The grid of `trial_list`, or with --search optuna the search of `search_space`."""
    if args.search == "optuna":
        return StudySpec(
            name=study_name(args, "eps_sweep_optuna"),
            base=base_config(args, policy="adaptive", kind=args.kinds[0], seed=args.seeds[0]),
            space=search_space(args.search_lr),
            num_samples=SAMPLES[args.preset] if args.num_samples is None else args.num_samples,
            objectives=OBJECTIVES,
        )
    eps = args.eps or (SMOKE_EPS if args.preset == "smoke" else EPS_GRID)
    trials = trial_list(eps, args.kinds, args.seeds)
    return StudySpec(
        name=study_name(args, STUDY.name), base=base_config(args), trials=tuple(trials)
    )


def summary(args: argparse.Namespace, spec: StudySpec, result) -> list:
    """The grid: final accuracy per (policy, kind, eps); a search: its Pareto front, saved."""
    if args.search != "optuna":
        return [STUDY.summarize(result.epochs)]
    ok = final_epochs(result.epochs).query("status == 'ok'")
    front = pareto_front(ok, OBJECTIVES)[
        ["trial_id", "eps", "lr", "test_acc", "trainable_params", "layers_fixed"]
    ]
    path = write_csv_atomic(front, f"{args.results}/{spec.name}/pareto.csv")
    return [f"Pareto front (test accuracy up, trainable parameters down) -> {path}", front]


STUDY = register_study(
    StudyType(
        name="eps_sweep",
        title="Adaptive-ETF over eps (MLP)",
        method="Adaptive-ETF",
        arm_keys=("eps", "kind"),
        figures="eps_arms",
        paper=(
            # Liu, arXiv 2412.00884, Fashion-MNIST; the baseline's accuracies are not reported.
            PaperNumber("Adaptive-ETF (MLP)", "method", train=98.09, test=89.38),
            PaperNumber("MLP baseline", "baseline"),
        ),
        marks=(("policy", "adaptive"),),
    ),
    doc=__doc__,
    options=add_options,
    build=build_spec,
    seeds={"smoke": (0,), "quick": (0, 1), "paper": (0, 1, 2)},
    summary_keys=("policy", "kind", "eps"),
    summary_blank={"kind": "-", "eps": float("nan")},
    summary=summary,
)


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, argv)


if __name__ == "__main__":
    sys.exit(main())
