"""Adaptive-ETF across networks and datasets: does fixing collapsed layers carry over from the
paper's MLP to convolutional networks (Liu, arXiv 2412.00884)?

For every network, dataset and seed the study runs the baseline and Adaptive-ETF at one eps for
each kind (default: rotated ETFs and the orthogonal control). On `resnet_mlp` Adaptive-ETF fixes
head layers exactly as on the MLP; on `resnet18` and `vgg11_bn` it may also fix residual blocks
and conv units (their convs fixed to frames, this project's extension of the rule). Each
network runs at its own size for the preset (at smoke size its `presets["smoke"]` options); at
paper size a (network, dataset) with a GPU preset runs that preset's recipe (`cifar10-resnet18`,
`cifar100-resnet18`, `cifar10-resnet-mlp`; `--set` still overrides). The figures show the train
NCC accuracy, NC1 and CDNV of every layer per network, and test accuracy against trainable
parameters. Trials run in their own folders: for files other than Fashion-MNIST's, set
NC_DATA_DIR to the folder holding them (docs/networks.md).

    NC_DATA_DIR=data python studies/arch_sweep.py --preset smoke      # seconds per trial
    NC_DATA_DIR=data python studies/arch_sweep.py --preset paper --gpus-per-trial 1
"""

from __future__ import annotations

import argparse
import sys

from nc_core.cli.study import base_config, study_main, study_name
from nc_core.models import get_model
from nc_core.study.declaration import StudyType
from nc_core.study.registry import register_study
from nc_core.study.spec import StudySpec
from nc_core.train.config import KINDS, RUN_FIELDS
from nc_core.train.presets import preset_values

NETWORKS = {
    "smoke": ("resnet_mlp", "vgg11_bn"),
    "quick": ("resnet_mlp", "vgg11_bn", "resnet18"),
    "paper": ("resnet18", "resnet_mlp", "vgg11_bn"),
}
DATASETS = {
    "smoke": ("mnist", "cifar10"),
    "quick": ("fashion_mnist", "cifar10"),
    "paper": ("cifar10", "cifar100"),
}
# The GPU presets whose recipe a (network, dataset) runs at paper size (nc_core.train.presets).
RECIPES = {
    ("resnet18", "cifar10"): "cifar10-resnet18",
    ("resnet18", "cifar100"): "cifar100-resnet18",
    ("resnet_mlp", "cifar10"): "cifar10-resnet-mlp",
}
KINDS_DEFAULT = ("rotated", "orthogonal")
EPS = {"smoke": 0.3, "quick": 0.1, "paper": 0.1}


def setup(network: str, dataset: str, preset: str, keep: set[str]) -> dict:
    """What a trial of `network` on `dataset` overrides in the base: the network, the data, its
    options for the preset, and at paper size its recipe's run fields (but those in `keep`,
    which the command line set)."""
    options = get_model(network).presets.get(preset, {})
    out = dict(model=network, dataset=dataset)
    out.update({f"{network}_{k}": v for k, v in options.items()})
    recipe = RECIPES.get((network, dataset)) if preset == "paper" else None
    if recipe is not None:
        values = preset_values(recipe)
        out.update(
            {
                k: v
                for k, v in values.items()
                if k in RUN_FIELDS and k not in ("model", "dataset") and k not in keep
            }
        )
    return out


def trial_list(networks, datasets, kinds, eps: float, seeds, preset: str, keep=()) -> list[dict]:
    """Per (network, dataset, seed): the baseline, then Adaptive-ETF at `eps` for each kind."""
    trials = []
    for network in networks:
        for dataset in datasets:
            where = setup(network, dataset, preset, set(keep))
            for seed in seeds:
                trials.append(dict(where, policy="none", seed=seed))
                trials += [
                    dict(where, policy="adaptive", eps=eps, kind=kind, seed=seed) for kind in kinds
                ]
    return trials


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--networks", nargs="+", help="registered models (default: per preset, or --model)"
    )
    parser.add_argument(
        "--datasets", nargs="+", help="registered datasets (default: per preset, or --dataset)"
    )
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=list(KINDS_DEFAULT),
        choices=KINDS,
        help="what a fixed layer becomes (default: rotated orthogonal)",
    )
    parser.add_argument("--eps", type=float, help="Adaptive-ETF's eps (default: per preset)")


def _distinct(option: str, values) -> tuple:
    values = tuple(values)
    if len(set(values)) != len(values):
        raise ValueError(f"{option} {' '.join(map(str, values))}: a value is given twice")
    return values


def build_spec(args: argparse.Namespace) -> StudySpec:
    """The grid of `trial_list` over --networks x --datasets x --kinds x --seeds."""
    p = args.preset
    eps = EPS[p] if args.eps is None else args.eps
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"--eps {eps}: an NCC error threshold must lie in [0, 1], e.g. 0.1")
    networks = _distinct(
        "--networks", args.networks or ([args.model] if args.model else NETWORKS[p])
    )
    datasets = _distinct(
        "--datasets", args.datasets or ([args.dataset] if args.dataset else DATASETS[p])
    )
    for network in networks:
        get_model(network)  # an unknown name: the registry's one line naming the known ones
    keep = {item.partition("=")[0].strip() for item in args.set}
    trials = trial_list(
        networks, datasets, _distinct("--kinds", args.kinds), eps, args.seeds, p, keep
    )
    # The base is the first network on the first dataset, so that every field it is checked
    # with is one some trial runs (each trial sets its own network and data).
    base = base_config(args, model=networks[0], dataset=datasets[0])
    return StudySpec(name=study_name(args, STUDY.name), base=base, trials=tuple(trials))


STUDY = register_study(
    StudyType(
        name="arch_sweep",
        title="Adaptive-ETF across networks and datasets",
        method="Adaptive-ETF",
        arm_keys=("kind",),  # the network and the dataset are setups: each has its own baseline
        figures="arch_nets",
    ),
    doc=__doc__,
    options=add_options,
    build=build_spec,
    seeds={"smoke": (0,), "quick": (0, 1), "paper": (0, 1, 2)},
    summary_keys=("model", "dataset", "policy", "kind"),
    summary_blank={"kind": "-"},
)


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, argv)


if __name__ == "__main__":
    sys.exit(main())
