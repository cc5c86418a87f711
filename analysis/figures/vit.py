"""The ViT (ETF-Transformer) figures: per-block NCC and NC1 at the last epoch, and test accuracy
against blocks fixed for each kind and each choice of feedforward linears (fc1, fc2, both)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..loading import columns
from ..loading.load import Study
from ..tables.kind_pairs import kind_differences
from ..tables.stats import mean_ci
from ..tables.trials import layer_names, ok_final
from . import style
from .kinds import controls

PROFILE = [
    ("train_ncc_acc", "NCC accuracy, train (%)", 100.0),
    ("test_ncc_acc", "NCC accuracy, test (%)", 100.0),
    ("nc1", "NC1 (log)", 1.0),
]
BLOCK_STYLES = ["-", "--", "-.", ":"]


def vit_profile(study: Study):
    """Rows: train NCC, test NCC, NC1; columns: the linears fixed (fc1, fc2, both); x: block;
    one line per (blocks, kind) arm (colour: kind, line style: blocks) and the baseline in
    every column. Fixed blocks are hollow markers (their NCC/NC1 repeat the block's input
    path only in part: the attention still trains)."""
    final = ok_final(study.epochs)
    layers = study.layers[study.layers["trial_id"].isin(final["trial_id"])]
    if layers.empty:
        raise style.NothingToDraw(f"{study.name}: no layer measurements")
    last = layers[layers["epoch"] == layers.groupby("trial_id")["epoch"].transform("max")]
    names = layer_names(last)
    arms = final[final["arm"] != "baseline"]
    linears = sorted(arms[columns.ETF_LINEARS].unique()) or ["both"]
    blocks = sorted(arms[columns.ETF_BLOCKS].unique())
    base_ids = final.loc[final["arm"] == "baseline", "trial_id"]
    fig, axes = plt.subplots(
        len(PROFILE),
        len(linears),
        figsize=(4.2 * len(linears), 2.6 * len(PROFILE) + 0.6),
        squeeze=False,
        sharex=True,
        sharey="row",
    )

    def draw(ax, ids, column, scale, *, colour, ls, mk, label):
        sub = last[last["trial_id"].isin(ids)]
        if sub.empty:
            return
        per = sub.groupby("layer_index")
        y = scale * per[column].mean()
        fixed = (per["fixed"].mean() >= 0.5).reindex(y.index, fill_value=False)
        ax.plot(y.index, y.where(~fixed), ls=ls, color=colour, marker=mk, ms=4, label=label)
        if fixed.any():
            ax.plot(
                y.index[fixed],
                y[fixed],
                "none",
                color=colour,
                marker=mk,
                ms=6,
                mfc="white",
                label="block with fixed feedforward linears",
            )

    for j, lin in enumerate(linears):
        for i, (column, label, scale) in enumerate(PROFILE):
            ax = axes[i, j]
            draw(
                ax,
                base_ids,
                column,
                scale,
                colour=style.color("baseline"),
                ls="-",
                mk=style.marker("baseline"),
                label=f"baseline (n={len(base_ids)})",
            )
            for (b, kind), g in arms[arms[columns.ETF_LINEARS] == lin].groupby(
                [columns.ETF_BLOCKS, "kind"]
            ):
                draw(
                    ax,
                    g["trial_id"],
                    column,
                    scale,
                    colour=style.color(kind),
                    ls=BLOCK_STYLES[blocks.index(b) % len(BLOCK_STYLES)],
                    mk=style.marker(kind),
                    label=f"{b}, {kind} (n={len(g)})",
                )
            if column == "nc1":
                style.log_axis(ax)
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_title(f"feedforward linears fixed: {lin}")
            if i == len(PROFILE) - 1:
                style.layer_axis(ax, names)
                ax.set_xlabel("block")
    hollow = "block with fixed feedforward linears"
    handles, labels = style.drawn_legend_entries(
        axes.ravel(), {hollow: plt.Line2D([], [], color="grey", marker="o", mfc="white", ls="none")}
    )
    fig.suptitle(f"{study.name}: NCC and NC1 per block at the last epoch", fontsize=11)
    fig.tight_layout()
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3,
        frameon=False,
    )
    head = last[last["trial_id"].isin(base_ids) & (last["layer_index"] == max(names))]
    mid = last[last["trial_id"].isin(base_ids) & (last["layer_index"] == min(names))]
    note = (
        f"Baseline train NCC accuracy rises from {100 * mid['train_ncc_acc'].mean():.1f}% at "
        f"{names[min(names)]} to {100 * head['train_ncc_acc'].mean():.1f}% at "
        f"{names[max(names)]} (n={len(base_ids)})"
        if len(head) and len(mid)
        else "No baseline layer measurements"
    )
    return fig, note + "."


def blocks_table(study: Study) -> pd.DataFrame:
    """The controls table of a ViT study with `etf_linears` as the panel: test accuracy by
    (linears, blocks fixed, kind), the baseline repeated in every panel as its reference."""
    final = ok_final(study.epochs)
    arms = final[(final["arm"] != "baseline") & (final["layers_fixed"] > 0)]
    base = final[final["arm"] == "baseline"]
    rows = []
    for lin in sorted(arms[columns.ETF_LINEARS].unique()):
        parts = [(np.nan, "baseline", base)] + [
            (n, kind, g)
            for (n, kind), g in arms[arms[columns.ETF_LINEARS] == lin].groupby(
                ["layers_fixed", "arm"]
            )
        ]
        for n, kind, g in parts:
            test = mean_ci(100 * g["test_acc"])
            rows.append(
                {
                    "study": study.name,
                    columns.ETF_LINEARS: lin,
                    "layers_fixed": n,
                    "arm": kind,
                    "n": test.n,
                    "test_acc_mean": test.mean,
                    "test_acc_std": 100 * g["test_acc"].std(),
                    "test_acc_ci95": test.ci,
                    "train_acc_mean": 100 * g["train_acc"].mean(),
                }
            )
    return pd.DataFrame(rows)


def vit_accuracy(study: Study):
    """Final test accuracy against blocks fixed, one line per kind, one panel per linears
    choice (fc1, fc2, both); the baseline is a band. The note gives each ETF kind minus each
    control at the same blocks and linears, paired by seed (`kind_pairs`)."""
    table = blocks_table(study)
    if table.empty:
        raise style.NothingToDraw(f"{study.name}: no ok trial with ETF blocks")
    fig, note = controls(table)
    pairs = kind_differences([study])
    if len(pairs):
        note += (
            " Paired by seed: "
            + "; ".join(f"{r.settings}: {r.comparison}" for r in pairs.itertuples())
            + "."
        )
    for ax in fig.axes:
        if ax.get_xlabel():
            ax.set_xlabel("blocks with fixed feedforward linears")
    spread = "mean ± 95% CI" if table["test_acc_ci95"].notna().any() else "one trial each"
    fig.suptitle(
        f"{study.name}: test accuracy against blocks fixed ({spread}; line: baseline)",
        fontsize=11,
    )
    return fig, note
