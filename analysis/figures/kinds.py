"""The controls figure: every kind at equal layers fixed (the ETF kinds beside the
random-isometry and freeze-in-place controls), each setup's baseline as a band, one panel per
study, setup and reading of the rule (mode).

`controls` returns (figure, a sentence computed from the data) or raises `NothingToDraw`. Its
points are means per cell, not comparisons: the comparisons of the same arms, paired by seed,
are `analysis.tables.kind_pairs`, which the callers set under the figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator

from nc_core.fixing.etf import FIXED_KINDS

from . import style


def _runs(xs: list[int]) -> list[list[int]]:
    """Consecutive integers grouped: [1, 2, 4] -> [[1, 2], [4]] (no line across a gap)."""
    out: list[list[int]] = []
    for x in xs:
        if out and x == out[-1][-1] + 1:
            out[-1].append(x)
        else:
            out.append([x])
    return out


def controls(table: pd.DataFrame):
    """Final test accuracy against layers fixed, one line per kind (every kind of
    nc_core.fixing.etf.FIXED_KINDS, said "not run" in the panel where a study has none; the
    legend names only the kinds drawn), mean ± 95% CI where a cell has 2 or more trials; the
    baseline is a horizontal line (its CI a band where n >= 2), not a cell. Cells with 0 layers
    fixed are left out, no line joins counts with none between them, and a count alone is a
    marker, not a line. One panel per (study, setup).

    `table` is `analysis.tables.controls`.
    """
    if table.empty or not (table["arm"] != "baseline").any():
        raise style.NothingToDraw("no study has a trial with a fixed layer")
    setup = [
        c
        for c in table.columns
        if c
        not in (
            "study",
            "layers_fixed",
            "arm",
            "n",
            "test_acc_mean",
            "test_acc_std",
            "test_acc_ci95",
            "train_acc_mean",
        )
    ]
    keyed = table.assign(**{c: table[c].map(str) for c in setup})
    panels = list(keyed.groupby(["study"] + setup, sort=False))
    fig, axes = style.grid(len(panels), size=(4.6, 3.5))
    kinds = list(FIXED_KINDS) + sorted(set(table["arm"]) - set(FIXED_KINDS) - {"baseline"})
    dodge = {k: (i - (len(kinds) - 1) / 2) * 0.07 for i, k in enumerate(kinds)}
    missing_all = []
    drawn: dict[str, bool] = {}  # kind -> whether a line (2 counts or more) was drawn
    base_band = base_line = cis = False
    base_lines = []
    for ax, (key, g) in zip(axes, panels, strict=True):
        base = g[g["arm"] == "baseline"]
        for r in base.itertuples():
            base_lines.append(ax.axhline(r.test_acc_mean, color=style.color("baseline"), lw=1.2))
            base_line = True
            if not np.isnan(r.test_acc_ci95):
                base_band = True
                ax.axhspan(
                    max(r.test_acc_mean - r.test_acc_ci95, 0),
                    min(r.test_acc_mean + r.test_acc_ci95, 100),
                    color=style.color("baseline"),
                    alpha=0.08,
                    lw=0,
                )
        counts = sorted(int(c) for c in g.loc[g["arm"] != "baseline", "layers_fixed"].dropna())
        missing = []
        for kind in kinds:
            a = g[g["arm"] == kind].sort_values("layers_fixed")
            if a.empty:
                missing.append(kind)
                continue
            by = {int(r.layers_fixed): r for r in a.itertuples()}
            for k, run in enumerate(_runs(sorted(by))):
                ci = [by[x].test_acc_ci95 for x in run]
                has_ci = not np.isnan(np.asarray(ci, float)).all()
                cis |= has_ci
                drawn[kind] = drawn.get(kind, False) or len(run) > 1
                ax.errorbar(
                    [x + dodge[kind] for x in run],
                    [by[x].test_acc_mean for x in run],
                    yerr=(
                        style.pct_bars([by[x].test_acc_mean for x in run], ci) if has_ci else None
                    ),
                    color=style.color(kind),
                    marker=style.marker(kind),
                    ls="-" if len(run) > 1 else "none",
                    ms=5,
                    capsize=2,
                    lw=1.2,
                    label=style.label(kind) if k == 0 else None,
                )
        ax.xaxis.set_major_locator(FixedLocator(sorted(set(counts))))
        ax.set_xlim(min(counts) - 0.5, max(counts) + 0.5)
        ax.set_xlabel("layers fixed at the last epoch")
        study, values = key[0], key[1:]
        extra = ", ".join(
            f"{c} {v}" for c, v in zip(setup, values, strict=True) if v not in ("nan", "none")
        )
        ax.set_title(study + (f" ({extra})" if extra else ""), fontsize=9)
        if missing:
            ax.text(
                0.01,
                0.01,
                "not run: " + ", ".join(missing),
                transform=ax.transAxes,
                fontsize=7,
                color="grey",
                va="bottom",
            )
            missing_all.append(f"{study}{f' ({extra})' if extra else ''}: {', '.join(missing)}")
    axes[0].set_ylabel("final test accuracy (%)")
    handles = [
        plt.Line2D(
            [],
            [],
            color=style.color(k),
            marker=style.marker(k),
            ls="-" if drawn[k] else "none",
            label=style.label(k),
        )
        for k in kinds
        if k in drawn
    ]
    if base_line:
        base_label = "baseline" + (" (band: 95% CI)" if base_band else "")
        for line in base_lines:
            line.set_label(base_label)
        handles.append(plt.Line2D([], [], color=style.color("baseline"), label=base_label))
    spread = "mean ± 95% CI over trials" if cis or base_band else "one trial per cell"
    fig.suptitle(
        f"Every kind at equal layers fixed ({spread}; 0-fixed cells left out)", fontsize=11
    )
    fig.tight_layout()
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=len(handles),
        frameon=False,
    )
    note = (
        "Points are means per cell"
        + (" (95% CI over trials where n >= 2)" if cis or base_band else " (one trial each)")
        + ", not paired comparisons."
    )
    if missing_all:
        note += " Kinds not run: " + "; ".join(missing_all) + "."
    return fig, note
