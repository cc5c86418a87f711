"""The figures of a depth/width study (StaticETF from each layer, MLP widths x depths): NCC
accuracy per layer with the effective depth, the baselines' collapse over epochs, every
measure by layer for each width and depth, and the trade-off."""

from __future__ import annotations

from ...loading import columns
from ...loading.load import Study
from ...tables.trials import DEFAULT_EPS, ok_final, trial_ids
from ..collapse import collapse_over_epochs, depth_profiles
from ..jobs import Job
from ..layers import ncc_per_layer
from ..tradeoff import tradeoff


def fix_from_jobs(study: Study, eps_arg: float | None) -> list[Job]:
    final = ok_final(study.epochs)
    eps = DEFAULT_EPS if eps_arg is None else eps_arg
    name = study.name
    jobs = [
        Job(
            f"{name}: NCC accuracy per layer and the effective depth (eps={eps:g})",
            f"{name}_ncc_per_layer",
            "Final NCC accuracy per layer for the baseline and each StaticETF fix_from, one "
            "panel per width and depth; the dotted line is the baseline's ε-effective depth (the "
            "lowest layer with train NCC error <= eps, Galanti, Galanti & Ben-Shaul 2022).",
            lambda: ncc_per_layer(study, eps=eps),
        ),
        Job(
            f"{name}: collapse per layer over epochs, baselines",
            f"{name}_collapse_epochs",
            "How collapse develops, layer by layer, in each plain network of the study.",
            lambda: collapse_over_epochs(
                study.layers,
                [
                    (f"baseline width {w} depth {d}", trial_ids(g))
                    for (w, d), g in final[final["arm"] == "baseline"].groupby(
                        [columns.MLP_WIDTH, columns.MLP_DEPTH]
                    )
                ],
                title=f"{name}: collapse per layer over epochs, baselines",
            ),
        ),
    ]
    for (w, d), g in final.groupby([columns.MLP_WIDTH, columns.MLP_DEPTH]):
        arms = [("baseline", "baseline", trial_ids(g[g["arm"] == "baseline"]))]
        for (fix, kind), a in g[g["arm"] != "baseline"].groupby(["fix_from", "kind"]):
            arms.append((f"from layer {int(fix)} {kind}", kind, trial_ids(a)))
        jobs.append(
            Job(
                f"{name}: every measure by layer, width {w} depth {d} (eps={eps:g})",
                f"{name}_depth_profile_w{w}_d{d}",
                "Final-epoch profiles against depth for the baseline and StaticETF from each "
                "layer; hollow markers are fixed layers, the dotted lines ε-effective depths "
                "(the lowest layer with train NCC error <= eps).",
                lambda arms=arms, w=w, d=d: depth_profiles(
                    study.layers,
                    arms,
                    eps=eps,
                    title=f"{name}: measures by layer, width {w} depth {d}, eps={eps:g}",
                ),
            )
        )
    jobs.append(
        Job(
            f"{name}: test accuracy against trainable parameters",
            f"{name}_tradeoff",
            "Every arm's mean final test accuracy against its trainable parameters.",
            lambda: tradeoff(study),
        )
    )
    return jobs
