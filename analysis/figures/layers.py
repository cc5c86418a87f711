"""Figures over layers: NCC accuracy per layer with the effective depth (StaticETF from each
layer, MLPs of several widths and depths) and the train NCC accuracy heat map layer x epoch of
chosen trials.

Each function returns (figure, a sentence of what it shows computed from the data) or raises
`NothingToDraw` naming what is missing.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import patheffects

from nc_core.measure.depth import NONE, effective_depths
from nc_core.measure.threshold import as_fraction

from ..loading import columns
from ..loading.load import Study
from ..tables.trials import is_baseline, layer_names
from . import style


def final_layers(layers: pd.DataFrame) -> pd.DataFrame:
    """Each ok trial's layer rows at its last measured epoch."""
    ok = layers[layers["status"] == "ok"]
    return ok[ok["epoch"] == ok.groupby("trial_id")["epoch"].transform("max")]


def ncc_per_layer(study: Study, *, eps: float):
    """Final train/test NCC accuracy per layer, baseline and each StaticETF fix_from, one panel
    per (width, depth); dotted line: the baseline's ε-effective depth at `eps` (median over
    seeds; `nc_core.measure.depth.lowest_depth`, Galanti, Galanti & Ben-Shaul 2022: the lowest
    layer with train NCC error <= eps), drawn only where it is defined. The sentence gives the
    collapsed suffix's first layer (`suffix_depth`) beside it."""
    last = final_layers(study.layers)
    last = last[is_baseline(last) | (last["policy"] == "static")]
    if not is_baseline(last).any():
        raise style.NothingToDraw(f"{study.name}: no baseline trial with NC measurements")
    setups = sorted(set(zip(last[columns.MLP_WIDTH], last[columns.MLP_DEPTH], strict=True)))
    fig, axes = style.grid(len(setups), size=(4.6, 3.4), sharey=True)
    sentences = []
    fix_values = sorted(last["fix_from"].dropna().unique())
    shades = plt.get_cmap("plasma")(np.linspace(0.15, 0.8, max(len(fix_values), 1)))
    for ax, (width, depth) in zip(axes, setups, strict=True):
        sub = last[(last[columns.MLP_WIDTH] == width) & (last[columns.MLP_DEPTH] == depth)]
        names = layer_names(sub)
        base = sub[is_baseline(sub)]
        arms = [("baseline", base, style.color("baseline"), style.label("baseline"))]
        for (fix, kind), g in sub[~is_baseline(sub)].groupby(["fix_from", "kind"]):
            shade = shades[fix_values.index(fix)]
            where = names.get(int(fix), f"index {int(fix)}")
            arms.append((kind, g, shade, f"StaticETF from {where}, {kind}"))
        for arm, g, colour, text in arms:
            mean = g.groupby("layer_index")[["train_ncc_acc", "test_ncc_acc"]].mean() * 100
            mk = style.marker(arm)
            ax.plot(
                mean.index,
                mean["train_ncc_acc"],
                "-",
                marker=mk,
                ms=4,
                color=colour,
                label=text,
            )
            ax.plot(
                mean.index, mean["test_ncc_acc"], "--", marker=mk, ms=3, color=colour, alpha=0.7
            )
        depths = effective_depths(base, eps, definition="lowest")
        suffix = effective_depths(base, eps, definition="suffix")
        if depths.notna().sum() * 2 > len(depths):
            d = float(np.median(depths.dropna().astype(float)))
            ax.axvline(
                d,
                color=style.color("baseline"),
                ls=":",
                lw=1.5,
                label=f"baseline ε-effective depth at eps={eps:g} (median over seeds)",
            )
        sentences.append(
            f"width {width}, depth {depth}, baseline at eps={eps:g}: ε-effective depth "
            f"{_median_name(depths, names)}, collapsed suffix from {_median_name(suffix, names)}"
        )
        style.layer_axis(ax, names)
        ax.set_title(f"width {width}, depth {depth}")
        ax.set_xlabel("layer")
    axes[0].set_ylabel("final NCC accuracy (%)\nsolid: train, dashed: test")
    for ax in axes:
        ax.axhline(100 * float(1 - as_fraction(eps)), color="grey", lw=0.8, ls="-.")
    fig.suptitle(
        f"{study.name}: NCC accuracy per layer at the last epoch (dash-dot: 1 − eps={eps:g})",
        fontsize=11,
    )
    fig.tight_layout()
    style.figure_legend(fig, axes, ncol=2)
    return fig, "; ".join(sentences) + "."


def _median_name(depths: pd.Series, names: dict[int, str]) -> str:
    """'fc3 (median of 3 of 3 trials)', or NONE where fewer than half the trials have one."""
    known = depths.dropna().astype(float)
    if len(known) * 2 <= len(depths):
        return f"{NONE} ({len(depths) - len(known)} of {len(depths)} trials have none)"
    where = names.get(int(round(float(np.median(known)))), "?")
    return f"{where} (median of {len(known)} of {len(depths)} trials)"


def heatmap_shows(shown) -> str:
    """The heat map's caption: how many panels it has and what each is (`shown` as given to
    `ncc_heatmap`), then how to read the lines and marks."""
    what = (
        f"one trial ({shown[0][1]})"
        if len(shown) == 1
        else f"{len(shown)} trials, one panel each ({'; '.join(t for _, t in shown)})"
    )
    return (
        f"Train NCC accuracy of every layer at every epoch for {what}; the solid white line is "
        "the ε-effective depth (the lowest layer with train NCC error <= eps, Galanti, Galanti & "
        "Ben-Shaul 2022), the dashed one the first layer of the collapsed suffix (every layer "
        "from it to the output <= eps; this project's definition, which mode=beyond fixes), each "
        "drawn where it exists, and a red x marks a fixed layer."
    )


def ncc_heatmap(study: Study, shown, *, eps: float):
    """Train NCC accuracy (%) layer x epoch, one panel per trial; solid white line: the
    ε-effective depth at `eps` (the lowest layer with train NCC error <= eps), dashed white line:
    the first layer of the collapsed suffix (every layer from it on <= eps), at each measured
    epoch (absent where none; `nc_core.measure.depth`); x: the layer is fixed.

    `shown`: [(trial_id, panel title)].
    """
    if not shown:  # every trial failed or diverged: the report lists them
        raise style.NothingToDraw(f"{study.name}: no ok trial to draw")
    tables = [study.layers[study.layers["trial_id"] == t] for t, _ in shown]
    if any(t.empty for t in tables):
        raise style.NothingToDraw(f"{study.name}: no layer measurements for the chosen trials")
    vmin = min(100 * t["train_ncc_acc"].min() for t in tables)
    ncols = min(len(shown), 3)
    fig, axes = style.grid(len(shown), ncols=ncols, size=(5.0, 3.6), sharey=True)
    sentences = []
    for ax, (_, title), layers in zip(axes, shown, tables, strict=True):
        grid = layers.pivot_table(index="layer_index", columns="epoch", values="train_ncc_acc")
        image = ax.imshow(
            100 * grid.to_numpy(),
            origin="lower",
            aspect="auto",
            cmap="viridis",
            vmin=vmin,
            vmax=100,
            extent=(-0.5, grid.shape[1] - 0.5, -0.5, grid.shape[0] - 0.5),
        )
        col = {e: j for j, e in enumerate(grid.columns)}
        row = {i: j for j, i in enumerate(grid.index)}
        depth = effective_depths(layers, eps, definition="lowest")
        depth = depth.droplevel("trial_id").astype(float)
        suffix = effective_depths(layers, eps, definition="suffix")
        suffix = suffix.droplevel("trial_id").astype(float)
        for values, ls, mk, shift, label in (  # the suffix a little above: visible where equal
            (depth, "-", "o", 0.0, f"ε-effective depth (lowest layer <= eps={eps:g})"),
            (suffix, "--", "s", 0.15, f"collapsed suffix: first layer (eps={eps:g})"),
        ):
            if values.isna().all():  # none at any epoch: nothing to draw, nothing to name
                continue
            ax.plot(
                [col[e] for e in values.index],
                [np.nan if np.isnan(d) else row.get(int(d), np.nan) + shift for d in values],
                color="white",
                ls=ls,
                lw=2,
                marker=mk,
                ms=4,
                label=label,
                path_effects=[
                    patheffects.Stroke(linewidth=3.5, foreground="black"),
                    patheffects.Normal(),
                ],
            )
        fixed = layers[layers["fixed"]]
        if len(fixed):
            ax.scatter(
                [col[e] for e in fixed["epoch"]],
                [row[i] for i in fixed["layer_index"]],
                marker="x",
                s=18,
                color="red",
                lw=1,
                zorder=4,
                label="layer fixed",
            )
        epochs = list(grid.columns)
        step = max(1, len(epochs) // 12)
        ax.set_xticks(range(0, len(epochs), step), [str(e) for e in epochs[::step]])
        names = layer_names(layers)
        ax.set_yticks(range(len(grid.index)), [names[i] for i in grid.index])
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=9)
        ax.grid(False)
        parts = []
        for what, values in (("ε-effective depth", depth), ("collapsed suffix from", suffix)):
            valid = values.dropna()
            parts.append(
                f"{what} {names[int(valid.iloc[0])]} at epoch {valid.index[0]} -> "
                f"{names[int(valid.iloc[-1])]} at epoch {valid.index[-1]}"
                if len(valid)
                else f"{what} {NONE} at every epoch"
            )
        sentences.append(f"{title} (eps={eps:g}): " + ", ".join(parts))
    for ax in axes[::ncols]:
        ax.set_ylabel("layer")
    fig.tight_layout()
    fig.colorbar(image, ax=list(axes), label="train NCC accuracy (%)", fraction=0.04, pad=0.02)
    style.figure_legend(fig, axes, ncol=3)
    return fig, "; ".join(sentences) + "."
