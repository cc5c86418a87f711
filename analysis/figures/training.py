"""Training curves: accuracy and trainable parameters per epoch, each arm beside the baseline
(mean over ok seeds; band: 95% CI, only where an epoch has 2 or more seeds; the baseline a wide
faint line beneath the arm, so that an arm equal to it stays visible), with the epochs at which
layers were fixed drawn as dotted lines and named; the note compares each arm's final test
accuracy with the baseline's, paired by seed."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from nc_core.study.summary import final_epochs

from ..loading.load import Study
from ..tables.stats import comparison, count, paired, t975
from ..tables.trials import fix_epochs
from . import style

# The baseline is drawn beneath each arm, wider and faint; the arm on top, narrow and solid.
BASELINE_LINE = {"lw": 3.2, "alpha": 0.35, "zorder": 1}
ARM_LINE = {"lw": 1.4, "alpha": 1.0, "zorder": 3}


def _curve(ax, rows, column, *, color, ls, label, line, scale=100.0) -> bool:
    """Mean over the trials per epoch; a 95% CI band where an epoch has 2 or more. Returns
    whether a band was drawn."""
    per = rows.groupby("epoch")[column]
    mean, sd, n = scale * per.mean(), scale * per.std(), per.count()
    ci = sd * [t975(k - 1) / np.sqrt(k) if k > 1 else np.nan for k in n]
    ax.plot(mean.index, mean, ls, color=color, label=label, **line)
    if ci.notna().any():
        ax.fill_between(
            mean.index, mean - ci, mean + ci, color=color, alpha=0.15, lw=0, zorder=line["zorder"]
        )
        return True
    return False


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
    notes, banded, any_fixed = [], False, False
    for j, (text, arm, ids) in enumerate(arms):
        top, bottom = axes[0, j], axes[1, j]
        rows = study.epochs[study.epochs["trial_id"].isin(ids)]
        n = rows["trial_id"].nunique()
        shown = [(text, arm, rows, n, ARM_LINE)]
        if len(base):
            shown.append(("baseline", "baseline", base, base["trial_id"].nunique(), BASELINE_LINE))
        for name, a, r, k, line in shown:
            colour = style.color(a)
            for col, ls in (("train_acc", "-"), ("test_acc", "--")):
                label = f"{name}, {col[:-4]} (n={k})"
                banded |= _curve(top, r, col, color=colour, ls=ls, label=label, line=line)
            p = r.groupby("epoch")["trainable_params"].mean()
            bottom.plot(
                p.index,
                p,
                color=colour,
                marker=None if a == "baseline" else style.marker(a),
                ms=4,
                label=name,
                **line,
            )
        when = fixes[fixes["trial_id"].isin(ids) & (fixes["epoch"] > 0)]
        when = when.groupby("layer")["epoch"].median().sort_values()
        any_fixed |= len(when) > 0
        for epoch, layers in when.groupby(when, sort=True):
            for ax in (top, bottom):
                ax.axvline(epoch, color=style.color(arm), ls=":", lw=1.2)
            top.annotate(
                ", ".join(layers.index),
                (epoch, 0.98),  # at the top: the legend takes the emptiest corner
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                color=style.color(arm),
            )
        top.set_title(f"{text} ({count(n, 'seed')})", fontsize=9)
        top.legend(loc="best", fontsize=6)
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
    key = ["mean over seeds"]
    if banded:
        key.append("band: 95% CI")
    if len(base):
        key.append("wide faint line: the baseline")
    if any_fixed:
        key.append("dotted: a layer fixed")
    fig.suptitle(title or f"{study.name}: training curves ({'; '.join(key)})", fontsize=11)
    fig.tight_layout()
    return fig, "; ".join(notes) + "."
