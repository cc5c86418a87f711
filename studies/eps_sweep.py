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

import pandas as pd

from nc_core.train.config import KINDS
from nc_core.study.spec import StudySpec
from nc_core.cli.study import (
    add_study_args,
    base_config,
    checked_study,
    print_wide,
    study_name,
    study_parser,
)
from nc_core.study.summary import final_epochs, pareto_front, summarize_final, write_csv_atomic
from nc_core.tune.run import run_study

EPS_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
SMOKE_EPS = (0.1, 0.3)
SEEDS = {"smoke": (0,), "quick": (0, 1), "paper": (0, 1, 2)}
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


def summarize(epochs: pd.DataFrame) -> pd.DataFrame:
    """Last epoch per trial, averaged over seeds for each (policy, kind, eps)."""
    last = final_epochs(epochs)
    last = last.assign(
        kind=last.kind.where(last.policy != "none", "-"),
        eps=last.eps.where(last.policy != "none", float("nan")),
    )
    return summarize_final(last, ["policy", "kind", "eps"])


def seed_list(args: argparse.Namespace) -> tuple[int, ...]:
    return tuple(args.seeds or SEEDS[args.preset])


def build_spec(args: argparse.Namespace) -> StudySpec:
    """The grid of `trial_list`, or with --search optuna the search of `search_space`."""
    seeds = seed_list(args)
    if args.search == "optuna":
        return StudySpec(
            name=study_name(args, "eps_sweep_optuna"),
            base=base_config(args, policy="adaptive", kind=args.kinds[0], seed=seeds[0]),
            space=search_space(args.search_lr),
            num_samples=SAMPLES[args.preset] if args.num_samples is None else args.num_samples,
            objectives=OBJECTIVES,
        )
    eps = args.eps or (SMOKE_EPS if args.preset == "smoke" else EPS_GRID)
    trials = trial_list(eps, args.kinds, seeds)
    return StudySpec(
        name=study_name(args, "eps_sweep"), base=base_config(args), trials=tuple(trials)
    )


def main(argv=None) -> int:
    parser = study_parser(__doc__)
    add_study_args(parser, name="eps_sweep")
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
    args = parser.parse_args(argv)
    # bad input: exit 2 here
    spec, opts = checked_study(parser, args, build_spec, seed=seed_list(args)[0])
    result = run_study(spec, opts)
    epochs = result.epochs
    if epochs.empty:
        return result.exit_code
    if args.search == "optuna":
        ok = final_epochs(epochs).query("status == 'ok'")
        front = pareto_front(ok, OBJECTIVES)[
            ["trial_id", "eps", "lr", "test_acc", "trainable_params", "layers_fixed"]
        ]
        path = write_csv_atomic(front, f"{args.results}/{spec.name}/pareto.csv")
        print_wide(f"Pareto front (test accuracy up, trainable parameters down) -> {path}", front)
    else:
        print_wide(summarize(epochs))
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
