"""What to draw for a study, by what it is: the figures of an eps sweep, a depth/width study, a
ViT study or a single run, each with a title and two sentences' worth of meaning (what the
figure shows, then a note computed from the data by the figure function)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nc_core.etf import FIXED_KINDS
from nc_core.study_tables import final_epochs

from .fig_collapse import COLLAPSE, GEOMETRY, collapse_over_epochs, depth_profiles
from .fig_layers import ncc_heatmap, ncc_per_layer
from .fig_tradeoffs import tradeoff
from .fig_training import training_curves
from .fig_vit import vit_accuracy, vit_profile
from .load import Study
from .trials import study_eps, with_arm

DEFAULT_EPS = 0.1  # studies/depth_width.py --eps default: the effective depth it prints


@dataclass(frozen=True)
class Job:
    """One figure to draw: `draw()` returns (figure, note) or raises NothingToDraw."""

    title: str
    stem: str
    shows: str  # one sentence: what the figure shows
    draw: Callable


def _ok(study: Study) -> pd.DataFrame:
    final = with_arm(final_epochs(study.epochs))
    return final[final["status"] == "ok"]


def _ids(df: pd.DataFrame) -> list[str]:
    return list(df["trial_id"])


def eps_arms(final: pd.DataFrame, eps: float) -> list[tuple[str, str, list[str]]]:
    """The baseline and every kind's Adaptive-ETF arm at `eps`: [(label, arm, trial ids)]."""
    arms = [("baseline", "baseline", _ids(final[final["arm"] == "baseline"]))]
    at = final[(final["policy"] == "adaptive") & np.isclose(final["eps"].astype(float), eps)]
    kinds = list(FIXED_KINDS) + sorted(set(at["kind"]) - set(FIXED_KINDS))
    arms += [(f"eps={eps:g} {k}", k, _ids(at[at["kind"] == k])) for k in kinds]
    return [a for a in arms if a[2]]


def eps_sweep_jobs(study: Study, eps_arg: float | None) -> list[Job]:
    final = _ok(study)
    eps = study_eps(final, eps_arg)
    arms = eps_arms(final, eps)
    base_ids = arms[0][2] if arms and arms[0][1] == "baseline" else []
    fixed_arms = [a for a in arms if a[1] != "baseline"]
    name = study.name
    heat = [(ids[0], f"{label}, first seed") for label, _, ids in arms[:2]]
    return [
        Job(
            f"{name}: collapse per layer over epochs (eps={eps:g})",
            f"{name}_collapse_epochs",
            "Each column is an arm (the baseline and each kind at this eps), each line a layer: "
            "NCC accuracy rising and NC1 and CDNV falling with depth and epoch is neural "
            "collapse, and a dashed tail marks a layer fixed.",
            lambda: collapse_over_epochs(
                study.layers,
                [(t, ids) for t, _, ids in arms],
                measures=COLLAPSE,
                title=f"{name}: collapse per layer over epochs, eps={eps:g}",
            ),
        ),
        Job(
            f"{name}: class-mean geometry per layer over epochs (eps={eps:g})",
            f"{name}_geometry_epochs",
            "The NC2 measures (equinorm, equiangle, distance to a simplex ETF) and the rank of "
            "the class means per layer over epochs; all fall towards 0 (rank towards K-1) as "
            "the means approach a simplex ETF.",
            lambda: collapse_over_epochs(
                study.layers,
                [(t, ids) for t, _, ids in arms],
                measures=GEOMETRY,
                title=f"{name}: class-mean geometry per layer over epochs, eps={eps:g}",
            ),
        ),
        Job(
            f"{name}: every measure by layer at the last epoch (eps={eps:g})",
            f"{name}_depth_profile",
            "Final-epoch profiles against depth for the baseline and each kind; hollow markers "
            "are fixed layers, whose NCC and NC1 repeat their input's, and the dotted line is "
            "the effective depth where it is defined.",
            lambda: depth_profiles(
                study.layers,
                arms,
                eps=eps,
                title=f"{name}: measures by layer at the last epoch, eps={eps:g}",
            ),
        ),
        Job(
            f"{name}: training curves (eps={eps:g})",
            f"{name}_training",
            "Accuracy and trainable parameters per epoch for each kind beside the baseline; "
            "each dotted line is the epoch at whose end a layer was fixed.",
            lambda: training_curves(study, fixed_arms, base_ids),
        ),
        Job(
            f"{name}: train NCC accuracy, layer x epoch (eps={eps:g})",
            f"{name}_ncc_heatmap",
            "Train NCC accuracy of every layer at every epoch for one trial of each arm; the "
            "white line is the effective depth and x marks a fixed layer.",
            lambda: ncc_heatmap(study, heat, eps=eps),
        ),
        Job(
            f"{name}: test accuracy against trainable parameters",
            f"{name}_tradeoff",
            "Every arm's mean final test accuracy against its trainable parameters, labelled "
            "with its eps and kind; arms on the grey line are not beaten on both axes.",
            lambda: tradeoff(study),
        ),
    ]


def depth_width_jobs(study: Study, eps_arg: float | None) -> list[Job]:
    final = _ok(study)
    eps = DEFAULT_EPS if eps_arg is None else eps_arg
    name = study.name
    jobs = [
        Job(
            f"{name}: NCC accuracy per layer and the effective depth (eps={eps:g})",
            f"{name}_ncc_per_layer",
            "Final NCC accuracy per layer for the baseline and each StaticETF fix_from, one "
            "panel per width and depth; the dotted line is the baseline's effective depth.",
            lambda: ncc_per_layer(study, eps=eps),
        ),
        Job(
            f"{name}: collapse per layer over epochs, baselines",
            f"{name}_collapse_epochs",
            "How collapse develops, layer by layer, in each plain network of the study.",
            lambda: collapse_over_epochs(
                study.layers,
                [
                    (f"baseline width {w} depth {d}", _ids(g))
                    for (w, d), g in final[final["arm"] == "baseline"].groupby(["width", "depth"])
                ],
                title=f"{name}: collapse per layer over epochs, baselines",
            ),
        ),
    ]
    for (w, d), g in final.groupby(["width", "depth"]):
        arms = [("baseline", "baseline", _ids(g[g["arm"] == "baseline"]))]
        for (fix, kind), a in g[g["arm"] != "baseline"].groupby(["fix_from", "kind"]):
            arms.append((f"from layer {int(fix)} {kind}", kind, _ids(a)))
        jobs.append(
            Job(
                f"{name}: every measure by layer, width {w} depth {d} (eps={eps:g})",
                f"{name}_depth_profile_w{w}_d{d}",
                "Final-epoch profiles against depth for the baseline and StaticETF from each "
                "layer; hollow markers are fixed layers, the dotted lines effective depths.",
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


def vit_jobs(study: Study, eps_arg: float | None) -> list[Job]:
    name = study.name
    return [
        Job(
            f"{name}: NCC and NC1 per block",
            f"{name}_vit_profile",
            "Per-block train and test NCC accuracy and NC1 at the last epoch, for each choice of "
            "fixed feedforward linears; hollow markers are blocks with fixed linears.",
            lambda: vit_profile(study),
        ),
        Job(
            f"{name}: test accuracy against blocks fixed",
            f"{name}_vit_accuracy",
            "Final test accuracy against the number of blocks whose feedforward linears are "
            "fixed, one line per kind and one panel per fc1/fc2/both, beside the baseline band.",
            lambda: vit_accuracy(study),
        ),
        Job(
            f"{name}: test accuracy against trainable parameters",
            f"{name}_tradeoff",
            "Every arm's mean final test accuracy against its trainable parameters, labelled "
            "with its blocks, linears and kind.",
            lambda: tradeoff(study),
        ),
    ]


def run_jobs(study: Study, eps_arg: float | None) -> list[Job]:
    """A single run, or a study of baselines only: curves, collapse, profile, fixing events."""
    final = _ok(study)
    if final.empty:
        final = with_arm(final_epochs(study.epochs))
    eps = (
        float(final["eps"].dropna().iloc[0])
        if eps_arg is None and final["eps"].notna().any()
        else (DEFAULT_EPS if eps_arg is None else eps_arg)
    )
    arms = [(r.arm_label, r.arm, [r.trial_id]) for r in final.itertuples()][:6]
    name = study.name
    return [
        Job(
            f"{name}: training curves and fixing events",
            f"{name}_training",
            "Accuracy and trainable parameters per epoch; each dotted line is the epoch at "
            "whose end a layer was fixed.",
            lambda: training_curves(study, arms, []),
        ),
        Job(
            f"{name}: collapse per layer over epochs",
            f"{name}_collapse_epochs",
            "Every measure per layer over epochs; a dashed tail marks a fixed layer.",
            lambda: collapse_over_epochs(
                study.layers,
                [(t, ids) for t, _, ids in arms],
                measures=COLLAPSE + GEOMETRY,
                title=f"{name}: collapse per layer over epochs",
            ),
        ),
        Job(
            f"{name}: every measure by layer at the last epoch (eps={eps:g})",
            f"{name}_depth_profile",
            "Final-epoch profiles against depth; hollow markers are fixed layers, the dotted "
            "line the effective depth.",
            lambda: depth_profiles(study.layers, arms, eps=eps),
        ),
        Job(
            f"{name}: train NCC accuracy, layer x epoch (eps={eps:g})",
            f"{name}_ncc_heatmap",
            "Train NCC accuracy of every layer at every epoch; the white line is the effective "
            "depth and x marks a fixed layer.",
            lambda: ncc_heatmap(study, [(ids[0], t) for t, _, ids in arms[:2]], eps=eps),
        ),
    ]


JOBS = {
    "eps_sweep": eps_sweep_jobs,
    "depth_width": depth_width_jobs,
    "vit_blocks": vit_jobs,
    "runs": run_jobs,
}
