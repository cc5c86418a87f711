"""The trade-off figure: final test accuracy against trainable parameters, every arm's mean
labelled with what it is, each trial a faint dot, and the Pareto front of the arm means.

`tradeoff` returns (figure, a sentence computed from the data) or raises `NothingToDraw`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import NullFormatter

from nc_core.study.summary import final_epochs, pareto_front

from ..loading.load import Study
from ..tables.stats import mean_ci
from ..tables.trials import with_arm
from . import style
from .labels import place_labels


def arm_means(final: pd.DataFrame) -> pd.DataFrame:
    """One row per arm (`arm_label`) of ok final rows: mean trainable parameters, test accuracy
    (%) with its 95% CI, n."""
    rows = []
    for label, g in final.groupby("arm_label", sort=False):
        test = mean_ci(100 * g["test_acc"])
        rows.append(
            {
                "arm_label": label,
                "arm": g["arm"].iloc[0],
                "trainable_params": g["trainable_params"].mean(),
                "test_acc": test.mean,
                "test_ci": test.ci,
                "n": test.n,
            }
        )
    return pd.DataFrame(rows)


def tradeoff(study: Study):
    """Final test accuracy against trainable parameters: each arm's mean (bar: 95% CI over
    seeds) labelled with what it is (eps and kind for an eps sweep), each trial a faint dot,
    and the Pareto front of the arm means."""
    final = with_arm(final_epochs(study.epochs))
    ok = final[(final["status"] == "ok") & final["test_acc"].notna()]
    if ok.empty:
        raise style.NothingToDraw(f"{study.name}: no ok trial")
    means = arm_means(ok)
    fig, ax = plt.subplots(figsize=(8.5, 5.6))
    for arm in style.arms_in(means["arm"]):
        g, dots = means[means["arm"] == arm], ok[ok["arm"] == arm]
        ax.scatter(
            dots["trainable_params"],
            100 * dots["test_acc"],
            s=10,
            color=style.color(arm),
            alpha=0.3,
            lw=0,
        )
        ax.errorbar(
            g["trainable_params"],
            g["test_acc"],
            yerr=style.pct_bars(g["test_acc"], g["test_ci"]),
            ls="none",
            marker=style.marker(arm),
            ms=9 if arm == "baseline" else 6,
            color=style.color(arm),
            capsize=2,
            label=f"{style.label(arm)} ({len(g)} arm{'s' if len(g) != 1 else ''})",
            zorder=3,
        )
    front = pareto_front(means, (("test_acc", "max"), ("trainable_params", "min")))
    front = front.sort_values("trainable_params")
    ax.plot(
        front["trainable_params"],
        front["test_acc"],
        drawstyle="steps-post",
        color="grey",
        lw=1.0,
        marker="o",
        ms=13,
        mfc="none",
        zorder=2,
        label="Pareto front of the arm means (ringed)",
    )
    params = ok["trainable_params"].to_numpy(float)
    if params.max() > 20 * params.min() > 0:  # Adaptive-ETF can cut params by orders
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(style.PARAMS_TICKS)
    ax.set_xlabel(
        f"{style.PARAMS_LABEL} at the last epoch"
        + (" (log scale)" if ax.get_xscale() == "log" else "")
    )
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title(f"{study.name}: test accuracy against trainable parameters")
    ax.margins(x=0.12, y=0.12)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.canvas.draw()
    lows, highs = style.pct_bars(means["test_acc"], means["test_ci"])
    place_labels(
        ax,
        [
            (r.trainable_params, r.test_acc, r.arm_label, style.color(r.arm))
            for r in means.itertuples()
        ],
        bars=[
            (r.trainable_params, r.test_acc - lo, r.test_acc + hi)
            for r, lo, hi in zip(means.itertuples(), lows, highs, strict=True)
        ],
    )
    members = ", ".join(
        f"{r.arm_label} ({r.trainable_params:,.0f} params, {r.test_acc:.2f}%, n={r.n})"
        for r in front.itertuples()
    )
    left_out = len(final) - len(ok)
    return fig, (
        f"{len(means)} arms from {len(ok)} ok trials ({left_out} diverged or failed left out, "
        f"listed at the end); on the Pareto front: {members}."
    )
