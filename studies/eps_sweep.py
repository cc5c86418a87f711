r"""Adaptive-ETF over the NCC-error threshold eps, against the plain MLP (Liu, arXiv 2412.00884).

Adaptive-ETF fixes a layer to a simplex ETF once its train nearest-class-centre error stays
under eps; a larger eps fixes layers earlier, cutting trainable parameters, perhaps at some test
accuracy. The grid runs the baseline and Adaptive-ETF at every eps, for each kind (`--kinds`)
and reading of the rule (`--modes`: `layer` fixes each layer under eps, `beyond` the layers from
the effective depth on; `beyond:0.1` runs a mode at those eps only), for every seed. Each value
of a list option is given once: a repeated value would only repeat a trial. `--search optuna`
instead lets Optuna's sampler pick eps (and with `--search-lr` the learning rate) for two
objectives, test accuracy (max) and trainable parameters (min), and prints the Pareto front
(also saved as results/<name>/pareto.csv).

    python studies/eps_sweep.py --preset smoke            # CI: < 2 min on 2 CPUs
    python studies/eps_sweep.py --preset quick            # about an hour on a CPU
    python studies/eps_sweep.py --preset quick --search optuna --num-samples 20
    python studies/eps_sweep.py --preset quick --seeds 0 1 2 --eps 0.1 0.2 \
        --kinds canonical rotated orthogonal freeze --modes layer beyond:0.1   # 39 trials
"""

from __future__ import annotations

import argparse
import sys

from nc_core.cli.study import base_config, distinct, study_main, study_name
from nc_core.fixing.policy import MODES
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
SEARCH_KIND = "canonical"  # the kind --search optuna runs unless --kinds names one


def parse_modes(items: list[str] | None, eps_grid, default: str = "layer") -> list[tuple]:
    """`--modes` as [(mode, its eps)]: each item MODE (at every eps of the grid) or
    MODE:EPS[,EPS...] (at those eps only); None: `default` at the grid. ValueError naming a bad
    item, an unknown mode, or a mode or eps given twice."""
    out = []
    for item in items or [default]:
        mode, sep, values = item.partition(":")
        if mode not in MODES:
            raise ValueError(f"--modes {item}: unknown mode {mode!r}; expected one of {MODES}")
        try:
            eps = tuple(float(v) for v in values.split(",")) if sep else tuple(eps_grid)
        except ValueError:
            raise ValueError(
                f"--modes {item}: expected MODE or MODE:EPS[,EPS...], e.g. beyond:0.1"
            ) from None
        out.append((mode, distinct(f"--modes {item}", eps)))
    distinct("--modes", [mode for mode, _ in out])
    return out


def trial_list(eps_grid, kinds, seeds, modes=None, *, base_mode: str = "layer") -> list[dict]:
    """Per seed: the baseline, then Adaptive-ETF for every (mode, kind, eps); `modes` as from
    `parse_modes` (None: `base_mode` at every eps). A trial names its mode where it is not
    `base_mode`, so a study of one mode keeps the trials it was stored with."""
    modes = modes if modes is not None else [(base_mode, tuple(eps_grid))]
    trials = []
    for seed in seeds:
        trials.append(dict(policy="none", seed=seed))
        for mode, mode_eps in modes:
            named = {} if mode == base_mode else {"mode": mode}
            trials += [
                dict(policy="adaptive", kind=kind, eps=eps, seed=seed, **named)
                for kind in kinds
                for eps in mode_eps
            ]
    return trials


def search_space(search_lr: bool) -> dict:
    """eps (and the learning rate) for Optuna, log-uniform over the grid's range and beyond."""
    space = {"eps": ("loguniform", 0.005, 0.5)}
    if search_lr:
        space["lr"] = ("loguniform", 1e-3, 1e-1)
    return space


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--eps",
        type=float,
        nargs="+",
        help=f"eps grid (default: --preset smoke {SMOKE_EPS}, any other {EPS_GRID})",
    )
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=KINDS,
        help="what a fixed layer becomes, one arm per kind (default: the grid runs every "
        f"kind, {' '.join(KINDS)}, so the ETFs meet their controls; --search optuna runs "
        f"{SEARCH_KIND})",
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        metavar="MODE[:EPS,...]",
        help="readings of the rule: layer (each layer under eps; the default), beyond (the "
        "layers from the effective depth on); MODE:EPS,... runs a mode at those eps only",
    )
    parser.add_argument(
        "--search",
        choices=("grid", "optuna"),
        default="grid",
        help="grid: every (mode, kind, eps, seed) of the grid options; optuna: Optuna (TPE) "
        "draws eps for --num-samples trials of the first --kinds, for best test accuracy and "
        "fewest trainable parameters (default: grid)",
    )
    parser.add_argument("--search-lr", action="store_true", help="optuna: search lr as well")
    parser.add_argument("--num-samples", type=int, help="optuna: trials (default: per preset)")


def build_spec(args: argparse.Namespace) -> StudySpec:
    """The grid of `trial_list`, or with --search optuna the search of `search_space`."""
    if args.search == "optuna":
        grid_only = {"--eps": args.eps, "--modes": args.modes}
        given = [flag for flag, value in grid_only.items() if value]
        kinds = args.kinds or [SEARCH_KIND]
        if len(kinds) > 1:
            given.append(f"--kinds {' '.join(kinds)} (a search runs one kind)")
        if given:  # a search draws eps itself: a grid's options would be silently ignored
            raise ValueError(
                f"--search optuna: {', '.join(given)}: grid options; the search draws eps from "
                f"{search_space(False)['eps']}. Leave them out, or drop --search optuna"
            )
        return StudySpec(
            name=study_name(args, "eps_sweep_optuna"),
            base=base_config(args, policy="adaptive", kind=kinds[0], seed=args.seeds[0]),
            space=search_space(args.search_lr),
            num_samples=SAMPLES[args.preset] if args.num_samples is None else args.num_samples,
            objectives=OBJECTIVES,
        )
    eps = distinct("--eps", args.eps or (SMOKE_EPS if args.preset == "smoke" else EPS_GRID))
    base = base_config(args)
    modes = parse_modes(args.modes, eps, base.mode)
    kinds = distinct("--kinds", args.kinds or KINDS)
    trials = trial_list(eps, kinds, args.seeds, modes, base_mode=base.mode)
    name = study_name(args, STUDY.name, variant=[(kinds, KINDS)])
    return StudySpec(name=name, base=base, trials=tuple(trials))


def summary(args: argparse.Namespace, spec: StudySpec, result) -> list:
    """The grid: final accuracy per (policy, mode, kind, eps); a search: its Pareto front."""
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
        arm_keys=("mode", "eps", "kind"),
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
    summary_keys=("policy", "mode", "kind", "eps"),
    summary_blank={"mode": "-", "kind": "-", "eps": float("nan")},
    summary=summary,
)


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, argv)


if __name__ == "__main__":
    sys.exit(main())
