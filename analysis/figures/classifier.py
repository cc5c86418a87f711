"""NC3 and NC4 over epochs. Both compare the classifier with the class means of its input (the
penultimate features), so the tables carry them for the classifier row only: they are drawn
per epoch for the classifier, one line per arm, not per layer.

NC3 (self-duality, Papyan, Han & Donoho 2020): |W/|W|_F - (M - m̄)/|M - m̄|_F|_F^2, the classifier
W against the centred penultimate class means M; NC4: the share of samples whose argmax of the
logits differs from the nearest-class-centre decision on the penultimate features.
`classifier_over_epochs` returns (figure, a sentence computed from the data) or raises
`NothingToDraw`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import style

# (column, axis label, scale)
CLASSIFIER = [
    ("nc3", "NC3 self-duality\n|W/‖W‖ − M/‖M‖|²", "linear"),
    ("nc4", "NC4: classifier ≠ NCC\n(% of samples)", "pct"),
]
FIXED_CLASSIFIER = "classifier fixed (hollow)"
SHOWS = (
    "NC3 (self-duality of the classifier W and the centred penultimate class means M, 0 when W "
    "is proportional to M) and NC4 (the share of samples where the classifier and the "
    "nearest-class-centre rule on the penultimate features disagree) per epoch. Both are "
    "measured for the classifier only, so they are drawn for the classifier, one line per arm "
    "(mean over its seeds), a hollow marker where the classifier was fixed."
)


def classifier_over_epochs(layers: pd.DataFrame, arms, *, title: str = ""):
    """NC3 and NC4 of the classifier against epoch, one line per arm, each arm a little left or
    right of the epoch's tick so that arms that coincide (the same seed before any layer is
    fixed) stay side by side.

    `arms`: [(label, arm for the colour, trial ids)].
    """
    rows = layers[layers["nc3"].notna() | layers["nc4"].notna()]
    arms = [(t, a, ids) for t, a, ids in arms if rows["trial_id"].isin(ids).any()]
    if not arms:
        raise style.NothingToDraw("no NC3 or NC4 measurement (the classifier row) for the arms")
    measures = [m for m in CLASSIFIER if rows[m[0]].notna().any()]
    layer = ", ".join(sorted(rows["layer"].astype(str).unique()))
    fig, axes = plt.subplots(1, len(measures), figsize=(4.6 * len(measures), 3.3), squeeze=False)
    axes = axes[0]
    shift = style.offsets(len(arms))
    notes = []
    for k, (text, arm, ids) in enumerate(arms):
        sub = rows[rows["trial_id"].isin(ids)]
        n = sub["trial_id"].nunique()
        per = sub.groupby("epoch")
        mean = per[[m for m, _, _ in measures]].mean()
        fixed = (per["fixed"].mean() >= 0.5).reindex(mean.index, fill_value=False).to_numpy(bool)
        x = mean.index.to_numpy(float) + shift[k]
        for ax, (column, _, scale) in zip(axes, measures, strict=True):
            y = mean[column].to_numpy(float) * (100 if scale == "pct" else 1)
            live = np.where(fixed, np.nan, y)
            if fixed.any():  # join the last trainable epoch to the first fixed one
                start = max(int(np.argmax(fixed)) - 1, 0)
                live = np.where(np.arange(len(y)) <= start, y, np.nan)
                line = np.where(np.arange(len(y)) >= start, y, np.nan)
                ax.plot(x, line, ls="--", color=style.color(arm), lw=1.0, alpha=0.6)
                style.plot_fixed(ax, x[fixed], y[fixed], arm, FIXED_CLASSIFIER)
            ax.plot(
                x,
                live,
                "-",
                marker=style.marker(arm),
                ms=4,
                color=style.color(arm),
                label=f"{text} (n={n})",
            )
        last = mean.iloc[-1]
        notes.append(
            f"{text}: "
            + ", ".join(
                f"{c} {last[c] * (100 if s == 'pct' else 1):.3g}{'%' if s == 'pct' else ''}"
                for c, _, s in measures
            )
            + f" at epoch {int(mean.index[-1])}"
        )
    for ax, (_, label, _) in zip(axes, measures, strict=True):
        ax.set_ylabel(label)
        style.epoch_axis(ax)
    fig.suptitle(title or f"NC3 and NC4 of the classifier ({layer}) over epochs", fontsize=11)
    fig.tight_layout()
    handles, labels = style.drawn_legend_entries(
        axes,
        {FIXED_CLASSIFIER: style.fixed_key()},
    )
    fig.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False
    )
    return fig, f"Measured at {layer}; last epoch: " + "; ".join(notes) + "."
