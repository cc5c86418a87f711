"""Collapse per layer: every measure over epochs per arm (small multiples), and every measure
against layer index at the last epoch (depth profiles), with the effective depth marked.

A fixed layer is still measured, but for a fixed square map its NCC and NC1 repeat its
input's values; so once a layer is fixed its curve turns dashed and faint (over epochs) and
its point is hollow and unjoined (over depth). Each function returns (figure, a sentence of
what it shows computed from the data) or raises `NothingToDraw`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nc_core.measure.depth import NONE, effective_depths
from nc_core.measure.threshold import as_fraction

from ..tables.trials import layer_names
from . import style

# (column, axis label, scale): the measures of nc_core.results.records.LayerRecord that are drawn.
# Labels stay short (two lines at most) so that stacked panels' labels never meet; the symbols
# are defined once, in SYMBOLS, which every caption of these figures carries.
COLLAPSE = [
    ("train_ncc_acc", "NCC accuracy,\ntrain (%)", "pct"),
    ("test_ncc_acc", "NCC accuracy,\ntest (%)", "pct"),
    ("nc1", "NC1 =\nTr(Σ_W Σ_B⁺)/K", "log"),
    ("cdnv", "CDNV", "log"),
    ("erank_cov", "effective rank\nof Σ_T", "linear"),
]
# The ridge linear probe of each layer (`nc_core.measure.metrics.ridge_probe`), beside NCC.
PROBES = [
    ("probe_train_acc", "linear probe\naccuracy, train (%)", "pct"),
    ("probe_test_acc", "linear probe\naccuracy, test (%)", "pct"),
]
# The numerical rank of the centred means is K - 1 at every layer of a trained MLP (a flat line
# by construction); their effective rank is the one that moves as the means collapse.
GEOMETRY = [
    ("nc2_equinorm", "NC2 equinorm\n(CV of mean norms)", "linear"),
    ("nc2_equiangle", "NC2 equiangle\nmean |cos + 1/(K−1)|", "linear"),
    ("etf_distance", "distance to\na simplex ETF", "linear"),
    ("erank_means", "effective rank of\nthe centred means", "linear"),
]
MEASURES = COLLAPSE[:2] + PROBES + COLLAPSE[2:] + GEOMETRY
SYMBOLS = (
    "Σ_W, Σ_B and Σ_T are the within-class, between-class and total covariance of a layer's "
    "features, ⁺ the pseudo-inverse, K the number of classes; CDNV is the class-distance "
    "normalised variance (Galanti et al. 2022), the effective rank that of Roy & Vetterli 2007."
)


def _scale(ax, scale: str) -> None:
    if scale == "log":
        style.log_axis(ax)


def varying(rows: pd.DataFrame, measures) -> tuple[list, list[str]]:
    """The measures with at least two distinct finite values in `rows` (all arms, layers and
    epochs drawn), and a phrase for each one left out because it is the same everywhere (a
    panel of flat lines says nothing the caption cannot)."""
    kept, flat = [], []
    for m in measures:
        v = rows[m[0]].astype(float)
        v = v[np.isfinite(v)]
        if v.empty:
            continue
        if np.isclose(v.min(), v.max(), rtol=1e-9, atol=1e-12):
            flat.append(f"{m[0]} (= {v.iloc[0]:.3g} everywhere)")
        else:
            kept.append(m)
    return kept, flat


def _flat_note(flat: list[str]) -> str:
    return (
        f" Left out as the same at every layer and epoch drawn: {', '.join(flat)}." if flat else ""
    )


def _layer_colors(indices) -> dict[int, tuple]:
    idx = sorted(indices)
    cmap = plt.get_cmap("viridis")
    return {i: cmap(k / max(len(idx) - 1, 1) * 0.9) for k, i in enumerate(idx)}


FIXED_TAIL = "layer fixed (repeats input)"
FIXED_AT = "fixed at this epoch's end"


def collapse_over_epochs(layers: pd.DataFrame, columns, *, measures=COLLAPSE, title: str = ""):
    """Small multiples: one row per measure, one column per arm; in each panel one line per
    layer (mean over the arm's trials), dashed and faint while the layer is fixed; a dotted
    vertical line and an x at the end of each epoch at which a layer was fixed. A measure equal
    everywhere is left out (`varying`) and named in the note.

    `columns`: [(title, trial ids)] in drawing order.
    """
    columns = [(t, ids) for t, ids in columns if layers["trial_id"].isin(ids).any()]
    if not columns:
        raise style.NothingToDraw("no layer measurements for the arms to draw")
    drawn = layers[layers["trial_id"].isin([i for _, ids in columns for i in ids])]
    measures, flat = varying(drawn, measures)
    if not measures:
        raise style.NothingToDraw("every measure is the same at every layer and epoch")
    names = layer_names(layers)
    colors = _layer_colors(names)
    fig, axes = plt.subplots(
        len(measures),
        len(columns),
        figsize=(3.3 * len(columns) + 1.6, 2.1 * len(measures) + 0.8),
        squeeze=False,
        sharex=True,
        sharey="row",
    )
    fixed_notes = []
    for j, (col_title, ids) in enumerate(columns):
        sub = layers[layers["trial_id"].isin(ids)]
        n = sub["trial_id"].nunique()
        per = sub.groupby(["layer_index", "epoch"])
        mean = per[[m for m, _, _ in measures]].mean()
        fixed = per["fixed"].mean() >= 0.5  # fixed in most of the arm's trials
        last = sub[sub["epoch"] == sub["epoch"].max()]
        when = last[last["fixed_epoch"] >= 0].groupby("layer_index")["fixed_epoch"].median()
        for i, (column, label, scale) in enumerate(measures):
            ax = axes[i, j]
            for index in sorted(names):
                if index not in mean.index.get_level_values(0):
                    continue
                y = mean.loc[index, column] * (100 if scale == "pct" else 1)
                fx = fixed.loc[index].reindex(y.index, fill_value=False).to_numpy(bool)
                live = y.where(~fx)
                # the fixed part starts at the last trainable epoch, so the curve is continuous
                start = np.argmax(fx) - 1 if fx.any() else len(y)
                ax.plot(
                    y.index,
                    live,
                    "-",
                    color=colors[index],
                    lw=1.3,
                    label=names[index] if live.notna().any() else None,
                )
                if fx.any():
                    dead = y.where(np.arange(len(y)) >= max(start, 0))
                    ax.plot(
                        y.index,
                        dead,
                        "--",
                        color=colors[index],
                        lw=1.0,
                        alpha=0.45,
                        label=FIXED_TAIL if dead.notna().any() else None,
                    )
            for index, epoch in when.items():
                if epoch <= 0:
                    continue
                ax.axvline(epoch, color=colors[int(index)], ls=":", lw=0.9)
                if (int(index), epoch) in mean.index:
                    v = mean.loc[(int(index), epoch), column] * (100 if scale == "pct" else 1)
                    ax.plot([epoch], [v], "x", color="red", ms=5, mew=1.2, zorder=4, label=FIXED_AT)
            _scale(ax, scale)
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_title(
                    f"{col_title}\n(n={n})" if len(col_title) > 26 else f"{col_title} (n={n})"
                )
            if i == len(measures) - 1:
                style.epoch_axis(ax)
        if len(when):
            fixed_notes.append(
                f"{col_title}: "
                + ", ".join(f"{names[int(k)]}@{v:g}" for k, v in when.sort_values().items())
            )
    handles, labels = style.drawn_legend_entries(
        axes.ravel(),
        {
            FIXED_TAIL: plt.Line2D([], [], color="grey", ls="--", alpha=0.6),
            FIXED_AT: plt.Line2D([], [], color="red", marker="x", ls="none"),
        },
    )
    layer_order = list(names.values())
    order = sorted(
        range(len(labels)),
        key=lambda k: layer_order.index(labels[k]) if labels[k] in layer_order else len(names) + k,
    )
    fig.legend(
        [handles[k] for k in order],
        [labels[k] for k in order],
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        frameon=False,
        title="layer",
    )
    fig.suptitle(title or "collapse per layer over epochs", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.985))  # room for the suptitle above the column titles
    note = (
        "Layers fixed (median epoch at whose end): " + "; ".join(fixed_notes)
        if fixed_notes
        else "No arm drawn fixed a layer during training"
    )
    return fig, note + "." + _flat_note(flat)


def _depths(last: pd.DataFrame, eps: float, definition: str = "lowest") -> list:
    """Effective depth (layer index or None) of each trial at its last measured epoch, by
    `definition` (`nc_core.measure.depth.DEFINITIONS`)."""
    d = effective_depths(last, eps, definition=definition)
    return [None if pd.isna(v) else int(v) for v in d]


FIXED_LAYER = "fixed layer"


def depth_profiles(layers: pd.DataFrame, arms, *, eps: float, measures=MEASURES, title: str = ""):
    """Every measure against layer index at each trial's last measured epoch, one line per arm
    (mean over its trials): NCC and the linear probe (train and test), NC1, CDNV, ranks, NC2.
    Trainable layers: filled markers joined by a line; fixed layers: hollow markers, unjoined
    (their NCC/NC1 repeat their input's). Each arm is drawn a little left or right of the
    layer's tick, so that arms whose values coincide (the same seed before any layer is fixed)
    stay side by side. Vertical line: the arm's ε-effective depth at `eps` (Galanti, Galanti &
    Ben-Shaul 2022: the lowest layer with train NCC error <= eps; median over trials), drawn
    only where it is defined; the sentence gives the collapsed suffix's first layer beside it.
    A measure equal everywhere is left out (`varying`) and named in the note.

    `arms`: [(label, arm for the colour, trial ids)].
    """
    last = layers[layers["epoch"] == layers.groupby("trial_id")["epoch"].transform("max")]
    arms = [(t, a, ids) for t, a, ids in arms if last["trial_id"].isin(ids).any()]
    if not arms:
        raise style.NothingToDraw("no layer measurements at the last epoch for the arms")
    drawn = last[last["trial_id"].isin([i for _, _, ids in arms for i in ids])]
    measures, flat = varying(drawn, measures)
    if not measures:
        raise style.NothingToDraw("every measure is the same at every layer")
    names = layer_names(last)
    fig, axes = style.grid(len(measures), ncols=3, size=(4.0, 2.9))
    sentences = []
    shades = {}
    for k, (text, arm, _) in enumerate(arms):
        same = [a for _, a, _ in arms[:k]].count(arm)
        shades[text] = (style.color(arm), ["-", "--", "-.", ":"][same % 4])
    shift = dict(zip([t for t, _, _ in arms], style.offsets(len(arms)), strict=True))
    depth_label = f"ε-effective depth (lowest layer <= eps={eps:g})"
    for text, arm, ids in arms:
        sub = last[last["trial_id"].isin(ids)]
        n = sub["trial_id"].nunique()
        colour, ls = shades[text]
        per = sub.groupby("layer_index")
        mean = per[[m for m, _, _ in measures]].mean()
        fixed = (per["fixed"].mean() >= 0.5).reindex(mean.index, fill_value=False)
        x = mean.index.to_numpy(float) + shift[text]
        depths = _depths(sub, eps)
        known = [d for d in depths if d is not None]
        suffix = [d for d in _depths(sub, eps, "suffix") if d is not None]
        for ax, (column, _, scale) in zip(axes, measures, strict=True):
            y = mean[column] * (100 if scale == "pct" else 1)
            live = y.where(~fixed)
            ax.plot(
                x,
                live.to_numpy(float),
                ls=ls,
                marker=style.marker(arm),
                ms=4,
                color=colour,
                label=f"{text} (n={n})" if live.notna().any() else None,
            )
            if fixed.any() and y[fixed].notna().any():
                style.plot_fixed(
                    ax,
                    x[fixed.to_numpy(bool)],
                    y[fixed].to_numpy(float),
                    arm,
                    FIXED_LAYER if live.notna().any() else f"{text} (n={n})",
                    color=colour,
                )
            if len(known) * 2 > len(depths):  # defined for most trials: mark the median
                ax.axvline(
                    float(np.median(known)) + shift[text],
                    color=colour,
                    ls=":",
                    lw=1.2,
                    label=depth_label,
                )
        said = []
        for what, found in (("ε-effective depth", known), ("collapsed suffix from", suffix)):
            if found:
                where = names.get(int(np.median(found)), "?")
                said.append(
                    f"{what} {where} (median of {len(found)} of {n} trials"
                    + ("" if len(found) == n else f", {NONE} in {n - len(found)}")
                    + ")"
                )
            else:
                said.append(f"{what} {NONE}")
        sentences.append(f"{text}: " + ", ".join(said))
    accuracy_line = f"NCC accuracy 1 − eps={eps:g}"
    for ax, (column, label, scale) in zip(axes, measures, strict=True):
        _scale(ax, scale)
        ax.set_ylabel(label)
        style.layer_axis(ax, names)
        ax.set_xlabel("layer")
        if column == "train_ncc_acc":
            ax.axhline(
                100 * float(1 - as_fraction(eps)),
                color="grey",
                lw=0.8,
                ls="-.",
                label=accuracy_line,
            )
    fig.suptitle(title or "measures by layer at the last epoch", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))  # room for the suptitle above the column titles
    handles, labels = style.drawn_legend_entries(
        axes,
        {
            FIXED_LAYER: style.fixed_key(),
            depth_label: plt.Line2D([], [], color="grey", ls=":"),
            accuracy_line: plt.Line2D([], [], color="grey", ls="-.", lw=0.8),
        },
    )
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3,
        frameon=False,
    )
    return fig, "; ".join(sentences) + "." + _flat_note(flat)
