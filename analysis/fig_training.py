"""Figure 2: accuracy and trainable parameters per epoch, baseline against Adaptive-ETF (mean
over ok seeds, band: ± 1 std), with the epochs at which layers were fixed marked."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from . import style
from .load import Study
from .trials import final_rows, fix_epochs, is_baseline, representative_arm


def training_curves(study: Study):
    """Figure 2 for the representative Adaptive-ETF arm (eps 0.1 canonical, else the first)."""
    final = final_rows(study.epochs)
    arm = representative_arm(final)
    if arm is None:
        raise style.NothingToDraw(f"{study.name}: no ok Adaptive-ETF trial")
    eps, kind = arm
    ok = final[final["status"] == "ok"]
    adaptive_ids = ok.loc[
        (ok["policy"] == "adaptive") & np.isclose(ok["eps"], eps) & (ok["kind"] == kind), "trial_id"
    ]
    base_ids = ok.loc[is_baseline(ok), "trial_id"]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7.5, 6.2), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    arms = [
        ("baseline", base_ids, style.label("baseline")),
        (kind, adaptive_ids, f"Adaptive-ETF eps={eps:g}, {kind}"),
    ]
    ends = {}
    for name, ids, text in arms:
        rows = study.epochs[study.epochs["trial_id"].isin(ids)]
        if rows.empty:
            continue
        per = rows.groupby("epoch")
        for col, ls in (("train_acc", "-"), ("test_acc", "--")):
            mean, std = 100 * per[col].mean(), 100 * per[col].std().fillna(0)
            top.plot(
                mean.index,
                mean,
                ls,
                color=style.color(name),
                label=f"{text}, {col.split('_')[0]} (n={len(ids)})",
            )
            top.fill_between(
                mean.index, mean - std, mean + std, color=style.color(name), alpha=0.15, lw=0
            )
            ends[(name, col)] = mean.iloc[-1]
        params = per["trainable_params"].mean()
        bottom.plot(
            params.index,
            params,
            color=style.color(name),
            marker=style.marker(name),
            ms=4,
            label=text,
        )
        ends[(name, "params")] = (params.iloc[0], params.iloc[-1])
    fixes = fix_epochs(study.layers, study.epochs)
    fixes = fixes[fixes["trial_id"].isin(adaptive_ids) & (fixes["epoch"] > 0)]
    when = fixes.groupby("layer")["epoch"].median().sort_values()
    for epoch, layers in when.groupby(when, sort=True):
        for ax in (top, bottom):
            ax.axvline(epoch, color=style.color(kind), ls=":", lw=1)
        top.annotate(
            ", ".join(layers.index),
            (epoch, 0.98),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=7,
            color=style.color(kind),
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
        )
    top.set_ylabel(style.ACC_LABEL)
    top.legend(loc="lower right")
    top.set_title(
        f"{study.name}: baseline vs Adaptive-ETF (dotted: median epoch a layer was fixed)"
    )
    bottom.set_ylabel(style.PARAMS_LABEL)
    bottom.set_xlabel("epoch")
    bottom.yaxis.set_major_formatter(style.PARAMS_TICKS)
    bottom.legend(loc="center right")
    fig.tight_layout()
    note = (
        f"Adaptive-ETF (eps={eps:g}, {kind}, {len(adaptive_ids)} seeds) fixed "
        f"{', '.join(f'{k}@{v:g}' for k, v in when.items()) or 'no layer'} (median epoch)"
    )
    if ("baseline", "test_acc") in ends and (kind, "test_acc") in ends:
        p0, p1 = ends[(kind, "params")]
        note += (
            f"; final train/test {ends[(kind, 'train_acc')]:.2f}/"
            f"{ends[(kind, 'test_acc')]:.2f}% against the baseline's "
            f"{ends[('baseline', 'train_acc')]:.2f}/{ends[('baseline', 'test_acc')]:.2f}%; "
            f"trainable parameters {p0:,.0f} -> {p1:,.0f}"
        )
    return fig, note + "."
