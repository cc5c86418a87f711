"""The figures of single runs, or of a study of baselines only: training curves with fixing
events, collapse per layer over epochs, every measure by layer, and the NCC heat map."""

from __future__ import annotations

from nc_core.study.summary import final_epochs

from ...loading.load import Study
from ...tables.trials import DEFAULT_EPS, ok_final, with_arm
from ..collapse import COLLAPSE, GEOMETRY, SYMBOLS, collapse_over_epochs, depth_profiles
from ..jobs import Job
from ..layers import heatmap_shows, ncc_heatmap
from ..training import training_curves


def run_jobs(study: Study, eps_arg: float | None) -> list[Job]:
    """A single run, or a study of baselines only: curves, collapse, profile, fixing events."""
    final = ok_final(study.epochs)
    if final.empty:
        final = with_arm(final_epochs(study.epochs))
    eps = (
        float(final["eps"].dropna().iloc[0])
        if eps_arg is None and final["eps"].notna().any()
        else (DEFAULT_EPS if eps_arg is None else eps_arg)
    )
    arms = [(r.arm_label, r.arm, [r.trial_id]) for r in final.itertuples()][:6]
    name = study.name
    heat = [(ids[0], t) for t, _, ids in arms]
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
            "Every measure per layer over epochs; a dashed tail marks a fixed layer. " + SYMBOLS,
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
            "line the ε-effective depth (the lowest layer with train NCC error <= eps). " + SYMBOLS,
            lambda: depth_profiles(study.layers, arms, eps=eps),
        ),
        Job(
            f"{name}: train NCC accuracy, layer x epoch (eps={eps:g})",
            f"{name}_ncc_heatmap",
            heatmap_shows(heat),
            lambda: ncc_heatmap(study, heat, eps=eps),
        ),
    ]
