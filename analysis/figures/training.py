"""Training curves: accuracy and trainable parameters per epoch, each arm beside the baseline
(mean over ok seeds, band: 95% CI), with the epochs at which layers were fixed drawn as dotted
lines and named; the note compares each arm's final test accuracy with the baseline's, paired by
seed."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from nc_core.study.summary import final_epochs

from ..loading.load import Study
from ..tables.stats import comparison, count, paired, t975
from ..tables.trials import fix_epochs
from . import style


def _curve(ax, rows, column, *, color, ls, label, scale=100.0):
    per = rows.groupby("epoch")[column]
    mean, sd, n = scale * per.mean(), scale * per.std(), per.count()
    ci = sd * [t975(k - 1) / np.sqrt(k) if k > 1 else np.nan for k in n]
    ax.plot(mean.index, mean, ls, color=color, label=label)
    if ci.notna().any():
        ax.fill_between(mean.index, mean - ci, mean + ci, color=color, alpha=0.15, lw=0)
    return mean


def training_curves(study: Study, arms, baseline_ids, *, title: str = ""):
    """One column per arm: top, train (solid) and test (dashed) accuracy of the arm and the
    baseline; bottom, trainable parameters. Dotted lines: the median epoch at whose end each
    layer was fixed, over the arm's seeds.

    `arms`: [(label, arm for the colour, trial ids)]; `baseline_ids` may be empty (one run).
    """
    arms = [(t, a, ids) for t, a, ids in arms if study.epochs["trial_id"].isin(ids).any()]
    if not arms:
        raise style.NothingToDraw(f"{study.name}: no ok trial to draw")
    fig, axes = plt.subplots(
        2,
        len(arms),
        figsize=(4.4 * len(arms), 5.4),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [2, 1]},
    )
    fixes = fix_epochs(study.layers, study.epochs)
    base = study.epochs[study.epochs["trial_id"].isin(baseline_ids)]
    notes = []
    for j, (text, arm, ids) in enumerate(arms):
        top, bottom = axes[0, j], axes[1, j]
        rows = study.epochs[study.epochs["trial_id"].isin(ids)]
        n = rows["trial_id"].nunique()
        shown = [(text, arm, rows, n)]
        if len(base):
            shown.append(("baseline", "baseline", base, base["trial_id"].nunique()))
        for name, a, r, k in shown:
            colour = style.color(a)
            for col, ls in (("train_acc", "-"), ("test_acc", "--")):
                _curve(top, r, col, color=colour, ls=ls, label=f"{name}, {col[:-4]} (n={k})")
            p = r.groupby("epoch")["trainable_params"].mean()
            bottom.plot(p.index, p, color=colour, marker=style.marker(a), ms=4, label=name)
        when = fixes[fixes["trial_id"].isin(ids) & (fixes["epoch"] > 0)]
        when = when.groupby("layer")["epoch"].median().sort_values()
        for epoch, layers in when.groupby(when, sort=True):
            for ax in (top, bottom):
                ax.axvline(epoch, color=style.color(arm), ls=":", lw=1.2)
            top.annotate(
                ", ".join(layers.index),
                (epoch, 0.02),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="bottom",
                ha="right",
                fontsize=7,
                color=style.color(arm),
            )
        top.set_title(f"{text} ({count(n, 'seed')})", fontsize=9)
        top.legend(loc="lower right", fontsize=6)
        bottom.yaxis.set_major_formatter(style.PARAMS_TICKS)
        style.epoch_axis(bottom)
        fixed = ", ".join(f"{k}@{v:g}" for k, v in when.items())
        note = f"{text}: " + (
            f"fixed {fixed} (median epoch at whose end)" if fixed else "no layer fixed"
        )
        if len(base):
            a, b = (final_epochs(r).assign(v=lambda d: 100 * d["test_acc"]) for r in (rows, base))
            note += "; final test, " + comparison(paired(a, b, "v"), text, "baseline")
        notes.append(note)
    axes[0, 0].set_ylabel(style.ACC_LABEL + "\nsolid: train, dashed: test")
    axes[1, 0].set_ylabel(style.PARAMS_LABEL)
    fig.suptitle(
        title or f"{study.name}: training curves (band: 95% CI; dotted: a layer fixed)",
        fontsize=11,
    )
    fig.tight_layout()
    return fig, "; ".join(notes) + "."
