"""The figures of a study whose declaration names no figure set of its own, drawn from its arm
keys: training curves, collapse per layer over epochs, every measure by layer at the last epoch,
and test accuracy against trainable parameters. An arm is one combination of the arm keys'
values (the baseline first, then in key order; at most `MAX_ARMS` are drawn per figure)."""

from __future__ import annotations

import pandas as pd

from ...loading.load import Study
from ...tables.arms import study_keys
from ...tables.trials import eps_choice, keys_text, ok_final, trial_ids
from ..classifier import SHOWS as CLASSIFIER_SHOWS
from ..classifier import classifier_over_epochs
from ..collapse import COLLAPSE, SYMBOLS, collapse_over_epochs, depth_profiles
from ..jobs import Job
from ..tradeoff import tradeoff
from ..training import training_curves

MAX_ARMS = 6  # columns of one figure that stay readable


def keyed_arms(final: pd.DataFrame, keys: list[str]) -> list[tuple[str, str, list[str]]]:
    """The baseline and each combination of `keys` among the fixed arms: [(label, arm for the
    colour, trial ids)], at most MAX_ARMS."""
    arms = [("baseline", "baseline", trial_ids(final[final["arm"] == "baseline"]))]
    fixed = final[final["arm"] != "baseline"]
    keys = [k for k in keys if k in fixed]
    if keys:
        for values, g in fixed.groupby(keys, dropna=False, sort=True):
            values = values if isinstance(values, tuple) else (values,)
            label = keys_text(dict(zip(keys, values, strict=True)), keys) or g["arm"].iloc[0]
            arms.append((label, g["arm"].iloc[0], trial_ids(g)))
    elif len(fixed):
        arms.append((fixed["arm"].iloc[0], fixed["arm"].iloc[0], trial_ids(fixed)))
    return [a for a in arms if a[2]][:MAX_ARMS]


def default_jobs(study: Study, eps_arg: float | None) -> list[Job]:
    final = ok_final(study.epochs)
    eps, why = eps_choice(final, eps_arg)
    keys = [k for k in study_keys(study) if k != "method"] if study.type is not None else ["kind"]
    arms = keyed_arms(final, keys)
    base_ids = arms[0][2] if arms and arms[0][1] == "baseline" else []
    fixed_arms = [a for a in arms if a[1] != "baseline"]
    if not fixed_arms:  # baselines only: their own curves
        fixed_arms, base_ids = arms[:1], []
    name = study.name
    by = ", ".join(keys)
    return [
        Job(
            f"{name}: training curves",
            f"{name}_training",
            f"Accuracy and trainable parameters per epoch for each arm ({by}) beside the "
            "baseline; each dotted line is the epoch at whose end a layer was fixed.",
            lambda: training_curves(study, fixed_arms, base_ids),
        ),
        Job(
            f"{name}: collapse per layer over epochs",
            f"{name}_collapse_epochs",
            "Each column is an arm, each line a layer: NCC accuracy rising and NC1 and CDNV "
            "falling with depth and epoch is neural collapse, and a dashed tail marks a layer "
            "fixed. " + SYMBOLS,
            lambda: collapse_over_epochs(
                study.layers,
                [(t, ids) for t, _, ids in arms],
                measures=COLLAPSE,
                title=f"{name}: collapse per layer over epochs",
            ),
        ),
        Job(
            f"{name}: every measure by layer at the last epoch (eps={eps:g})",
            f"{name}_depth_profile",
            "Final-epoch profiles against depth for the baseline and each arm; hollow markers "
            "are fixed layers, and the dotted line is the ε-effective depth (the lowest layer "
            "with train NCC error <= eps, Galanti, Galanti & Ben-Shaul 2022) where it is "
            "defined; arms are drawn a little apart at each layer so that equal values stay "
            f"visible. {SYMBOLS} eps={eps:g}: {why} (make_figures --eps picks another).",
            lambda: depth_profiles(
                study.layers,
                arms,
                eps=eps,
                title=f"{name}: measures by layer at the last epoch, eps={eps:g}",
            ),
        ),
        Job(
            f"{name}: NC3 and NC4 of the classifier over epochs",
            f"{name}_classifier_epochs",
            CLASSIFIER_SHOWS,
            lambda: classifier_over_epochs(
                study.layers, arms, title=f"{name}: NC3 and NC4 of the classifier over epochs"
            ),
        ),
        Job(
            f"{name}: test accuracy against trainable parameters",
            f"{name}_tradeoff",
            "Every arm's mean final test accuracy against its trainable parameters; arms on the "
            "grey line are not beaten on both axes.",
            lambda: tradeoff(study),
        ),
    ]
