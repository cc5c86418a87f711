"""Trade-off figures: test accuracy against trainable parameters with the Pareto front
(Figure 4) and ETF against the freeze-in-place control at equal layers fixed (Figure 5)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator, NullFormatter

from nc_core.study import pareto_front

from . import style
from .load import Study
from .trials import final_rows, with_arm

ARM_ORDER = ["baseline", "canonical", "rotated", "freeze"]
OFFSETS = {"canonical": -0.12, "freeze": 0.12}  # side by side at the same layers fixed


def _arms(df: pd.DataFrame) -> list[str]:
    present = list(df["arm"].unique())
    return [a for a in ARM_ORDER if a in present] + sorted(set(present) - set(ARM_ORDER))


def pareto(study: Study):
    """Figure 4: final test accuracy vs trainable parameters for every ok trial of the study."""
    final = with_arm(final_rows(study.epochs))
    ok = final[(final["status"] == "ok") & final["test_acc"].notna()].reset_index(drop=True)
    if ok.empty:
        raise style.NothingToDraw(f"{study.name}: no ok trial")
    params, acc = ok["trainable_params"].to_numpy(float), 100 * ok["test_acc"].to_numpy(float)
    fig, ax = plt.subplots(figsize=(7, 4.6))
    for arm in _arms(ok):
        g = ok[ok["arm"] == arm]
        ax.scatter(
            g["trainable_params"],
            100 * g["test_acc"],
            color=style.color(arm),
            marker=style.marker(arm),
            s=90 if arm == "baseline" else 36,
            edgecolor="white",
            lw=0.5,
            label=f"{style.label(arm)} (n={len(g)})",
            zorder=3,
        )
    on_front = pareto_front(ok, (("test_acc", "max"), ("trainable_params", "min")))
    on_front = on_front.sort_values("trainable_params")
    front = on_front.index.to_numpy()
    ax.plot(
        params[front],
        acc[front],
        drawstyle="steps-post",
        color="grey",
        lw=1.2,
        marker="o",
        ms=12,
        mfc="none",
        zorder=2,
        label="Pareto front (fewer params, higher test acc)",
    )
    for r in on_front.itertuples():
        text = "baseline" if r.arm == "baseline" else f"eps={r.eps:g}"
        ax.annotate(
            text,
            (r.trainable_params, 100 * r.test_acc),
            xytext=(8, -3),
            textcoords="offset points",
            fontsize=7,
            color=style.color(r.arm),
        )
    if params.max() > 20 * params.min() > 0:  # Adaptive-ETF can cut params by orders
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(style.PARAMS_TICKS)
    ax.set_xlabel(
        f"{style.PARAMS_LABEL} at the last epoch"
        + (" (log scale)" if ax.get_xscale() == "log" else "")
    )
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title(f"{study.name}: test accuracy against trainable parameters, every trial")
    ax.legend(loc="best")
    fig.tight_layout()
    members = ", ".join(
        f"{'baseline' if r.arm == 'baseline' else f'eps={r.eps:g} {r.arm}'} "
        f"({r.trainable_params:,.0f} params, {100 * r.test_acc:.2f}%)"
        for r in on_front.itertuples()
    )
    left_out = len(final) - len(ok)
    return fig, (
        f"{len(ok)} ok trials drawn ({left_out} diverged or failed left out, listed at the end); "
        f"on the Pareto front: {members}."
    )


def etf_vs_freeze(table: pd.DataFrame, trials: dict[str, pd.DataFrame]):
    """Figure 5: final test accuracy vs layers fixed, by arm; one panel per (study, setup).

    `table` is Table 3 (`analysis.tables.etf_vs_freeze`); `trials` maps a study name to its
    ok final rows (with `arm`), drawn as faint points behind the means.
    """
    if table.empty:
        raise style.NothingToDraw("no study has ETF or freeze trials")
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
            "train_acc_mean",
        )
    ]
    panels = list(table.groupby(["study"] + setup, dropna=False, sort=False))
    fig, axes = style.grid(len(panels), size=(4.4, 3.4))
    for ax, (key, g) in zip(axes, panels, strict=True):
        key = key if isinstance(key, tuple) else (key,)
        arms = _arms(g)
        pts = trials.get(key[0], pd.DataFrame())
        for col, value in zip(setup, key[1:], strict=True):
            if len(pts) and not pd.isna(value):
                pts = pts[pts[col] == value]
        for arm in arms:
            a = g[g["arm"] == arm].sort_values("layers_fixed")
            x = a["layers_fixed"] + OFFSETS.get(arm, 0.0)
            ax.errorbar(
                x,
                a["test_acc_mean"],
                yerr=a["test_acc_std"].fillna(0),
                color=style.color(arm),
                marker=style.marker(arm),
                ms=6 if arm != "baseline" else 10,
                capsize=3,
                lw=1.2,
                label=style.label(arm),
            )
            if len(pts):
                p = pts[pts["arm"] == arm]
                ax.scatter(
                    p["layers_fixed"] + OFFSETS.get(arm, 0.0),
                    100 * p["test_acc"],
                    s=10,
                    color=style.color(arm),
                    alpha=0.35,
                    lw=0,
                )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        extra = ", ".join(
            f"{c} {v:g}" if isinstance(v, float) else f"{c} {v}"
            for c, v in zip(setup, key[1:], strict=True)
            if not pd.isna(v)
        )
        ax.set_title(key[0] + (f" ({extra})" if extra else ""))
        ax.set_xlabel("layers fixed at the last epoch")
    axes[0].set_ylabel("final test accuracy (%)")
    fig.suptitle(
        "ETF vs freeze-in-place at equal layers fixed (mean ± std over seeds)", fontsize=11
    )
    fig.tight_layout()
    style.figure_legend(fig, axes, ncol=4)
    return fig, freeze_gap_sentence(table)


def freeze_gap_sentence(table: pd.DataFrame) -> str:
    """'canonical − freeze: mean +0.50 pp over 4 matched cells …' from Table 3."""
    keys = [
        c
        for c in table.columns
        if c not in ("arm", "n", "test_acc_mean", "test_acc_std", "train_acc_mean")
    ]
    cells = table.assign(**{k: table[k].map(str) for k in keys})  # NaN keys: other studies
    wide = cells.pivot_table(index=keys, columns="arm", values="test_acc_mean")
    if "freeze" not in wide:
        return "No freeze-in-place trials ran, so whether ETF structure matters stays open."
    parts = []
    for kind in [k for k in ("canonical", "rotated") if k in wide] + sorted(
        set(wide.columns) - {"canonical", "rotated", "freeze", "baseline"}
    ):
        gap = (wide[kind] - wide["freeze"]).dropna()
        if len(gap):
            parts.append(
                f"{kind} − freeze: mean {gap.mean():+.2f} pp test accuracy over "
                f"{len(gap)} (study, setup, layers fixed) cells "
                f"(range {gap.min():+.2f} to {gap.max():+.2f})"
            )
    if not parts:
        return "No cell has both an ETF kind and freeze at the same layers fixed."
    return "; ".join(parts) + "."
