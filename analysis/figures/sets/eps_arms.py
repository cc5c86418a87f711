"""The figures of an eps sweep (Adaptive-ETF over eps, MLP): collapse and class-mean geometry
per layer over epochs, every measure by layer, training curves, the NCC heat map and the
trade-off, for the baseline and each (mode, kind) arm at one eps; every label names the mode
(`layer` or `beyond`) the arm ran."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nc_core.fixing.etf import FIXED_KINDS
from nc_core.fixing.policy import MODES

from ...loading.load import Study
from ...tables.trials import eps_choice, ok_final, trial_ids
from ..classifier import SHOWS as CLASSIFIER_SHOWS
from ..classifier import classifier_over_epochs
from ..collapse import COLLAPSE, GEOMETRY, SYMBOLS, collapse_over_epochs, depth_profiles
from ..jobs import Job
from ..layers import heatmap_shows, ncc_heatmap
from ..tradeoff import tradeoff
from ..training import training_curves


def eps_arms(final: pd.DataFrame, eps: float) -> list[tuple[str, str, list[str]]]:
    """The baseline and every (mode, kind) Adaptive-ETF arm at `eps`: [(label, arm, trial
    ids)], labelled with the reading of the rule each ran ("layer eps=0.1 rotated")."""
    arms = [("baseline", "baseline", trial_ids(final[final["arm"] == "baseline"]))]
    at = final[(final["policy"] == "adaptive") & np.isclose(final["eps"].astype(float), eps)]
    kinds = list(FIXED_KINDS) + sorted(set(at["kind"]) - set(FIXED_KINDS))
    for mode in [m for m in MODES if m in set(at["mode"])]:
        of_mode = at[at["mode"] == mode]
        arms += [
            (f"{mode} eps={eps:g} {k}", k, trial_ids(of_mode[of_mode["kind"] == k])) for k in kinds
        ]
    return [a for a in arms if a[2]]


def eps_arms_jobs(study: Study, eps_arg: float | None) -> list[Job]:
    final = ok_final(study.epochs)
    eps, why = eps_choice(final, eps_arg)
    at = f" Drawn at eps={eps:g}: {why} (make_figures --eps picks another)."
    arms = eps_arms(final, eps)
    base_ids = arms[0][2] if arms and arms[0][1] == "baseline" else []
    fixed_arms = [a for a in arms if a[1] != "baseline"]
    name = study.name
    heat = [(ids[0], f"{label}, first seed") for label, _, ids in arms]
    return [
        Job(
            f"{name}: collapse per layer over epochs (eps={eps:g})",
            f"{name}_collapse_epochs",
            "Each column is an arm (the baseline and each mode and kind at this eps), each line a "
            "layer: "
            "NCC accuracy rising and NC1 and CDNV falling with depth and epoch is neural "
            "collapse, and a dashed tail marks a layer fixed. " + SYMBOLS + at,
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
            "The NC2 measures (equinorm: the coefficient of variation of the class-mean norms; "
            "equiangle: the mean |cos + 1/(K−1)| over pairs of centred means; the distance of "
            "their Gram to a simplex ETF's) and the effective rank of the centred class means "
            "(Roy & Vetterli 2007; the numerical rank, at most K−1, is in the layers table) per "
            "layer over epochs; the NC2 measures fall towards 0 as the means approach a simplex "
            "ETF." + at,
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
            "Final-epoch profiles against depth (NCC, the linear probe, NC1 ...) for the baseline "
            "and each mode and kind; hollow markers are fixed layers, whose NCC and NC1 repeat "
            "their input's; the dotted line is the ε-effective depth (Galanti, Galanti & "
            "Ben-Shaul 2022: the lowest layer with train NCC error <= eps) where it is defined; "
            "arms are drawn a little apart at each layer so that equal values stay visible. "
            + SYMBOLS
            + at,
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
            "Accuracy and trainable parameters per epoch for each mode and kind beside the "
            "baseline (the wide faint line beneath); each dotted line is the epoch at whose end "
            "a layer was fixed." + at,
            lambda: training_curves(study, fixed_arms, base_ids),
        ),
        Job(
            f"{name}: train NCC accuracy, layer x epoch (eps={eps:g})",
            f"{name}_ncc_heatmap",
            heatmap_shows(heat) + at,
            lambda: ncc_heatmap(study, heat, eps=eps),
        ),
        Job(
            f"{name}: NC3 and NC4 of the classifier over epochs (eps={eps:g})",
            f"{name}_classifier_epochs",
            CLASSIFIER_SHOWS + at,
            lambda: classifier_over_epochs(
                study.layers,
                arms,
                title=f"{name}: NC3 and NC4 of the classifier over epochs, eps={eps:g}",
            ),
        ),
        Job(
            f"{name}: test accuracy against trainable parameters",
            f"{name}_tradeoff",
            "Every arm's mean final test accuracy against its trainable parameters, labelled "
            "with its mode, eps and kind; arms on the grey line are not beaten on both axes.",
            lambda: tradeoff(study),
        ),
    ]
