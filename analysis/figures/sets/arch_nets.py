"""The figures of a study over networks and datasets: per dataset, the train NCC accuracy, NC1
and CDNV of every measured layer at the last epoch, one panel per network, each arm a line; and
final test accuracy against trainable parameters, one point per (network, dataset, arm). A
network's layers are its stem, residual blocks (or conv units) and head in order, so its depth
axis is its own."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nc_core.study.summary import final_epochs

from ...loading.load import Study
from ...tables.trials import layer_names, with_arm
from .. import style
from ..jobs import Job

PROFILE = [  # (column, axis label, scale)
    ("train_ncc_acc", "NCC accuracy, train (%)", "pct"),
    ("nc1", "NC1 = Tr(Σ_W Σ_B⁺)/K", "log"),
    ("cdnv", "CDNV", "log"),
]
NETWORK_MARKERS = ("o", "s", "D", "^", "v", "P", "X")


def _final(study: Study) -> pd.DataFrame:
    """Each ok trial's final epoch row, with its arm."""
    final = with_arm(final_epochs(study.epochs))
    return final[final["status"] == "ok"]


def _last_layers(study: Study, final: pd.DataFrame) -> pd.DataFrame:
    """Layer rows of each ok trial at its last measured epoch, with the trial's arm."""
    layers = study.layers[study.layers["trial_id"].isin(final["trial_id"])]
    last = layers[layers["epoch"] == layers.groupby("trial_id")["epoch"].transform("max")]
    return last.drop(columns=["arm"], errors="ignore").merge(
        final[["trial_id", "arm"]], on="trial_id"
    )


def network_profiles(study: Study, dataset: str):
    """Rows: train NCC accuracy, NC1, CDNV; columns: the networks run on `dataset`; in each
    panel one line per arm (mean over its seeds) against the layer, fixed layers hollow."""
    final = _final(study)
    final = final[final["dataset"] == dataset]
    last = _last_layers(study, final)
    if last.empty:
        raise style.NothingToDraw(f"{study.name}: no layer measurements on {dataset}")
    networks = sorted(last["model"].unique())
    fig, axes = plt.subplots(
        len(PROFILE),
        len(networks),
        figsize=(4.4 * len(networks) + 0.6, 2.6 * len(PROFILE) + 0.9),
        squeeze=False,
    )
    notes = []
    for j, net in enumerate(networks):
        sub = last[last["model"] == net]
        names = layer_names(sub)
        for arm in style.arms_in(sub["arm"]):
            g = sub[sub["arm"] == arm]
            per = g.groupby("layer_index")
            mean = per[[c for c, _, _ in PROFILE]].mean()
            fixed = (per["fixed"].mean() >= 0.5).reindex(mean.index, fill_value=False)
            n = g["trial_id"].nunique()
            for i, (column, _, scale) in enumerate(PROFILE):
                ax = axes[i, j]
                y = mean[column] * (100 if scale == "pct" else 1)
                ax.plot(
                    y.index,
                    y.where(~fixed),
                    "-",
                    marker=style.marker(arm),
                    ms=4,
                    color=style.color(arm),
                    label=f"{style.label(arm)}",
                )
                if fixed.any():
                    style.plot_fixed(ax, y.index[fixed], y[fixed], arm, "fixed layer")
            if arm == "baseline":
                ncc = 100 * mean["train_ncc_acc"]
                notes.append(
                    f"{net}: baseline train NCC accuracy {ncc.iloc[0]:.1f}% at "
                    f"{names[int(ncc.index[0])]} to {ncc.iloc[-1]:.1f}% at "
                    f"{names[int(ncc.index[-1])]} (n={n})"
                )
        for i, (_, label, scale) in enumerate(PROFILE):
            ax = axes[i, j]
            if scale == "log":
                style.log_axis(ax)
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_title(net)
            style.layer_axis(ax, names)
        axes[-1, j].set_xlabel("layer (input to output)")
    handles, labels = style.drawn_legend_entries(
        axes.ravel(),
        {"fixed layer": style.fixed_key()},
    )
    fig.suptitle(f"{study.name}: {dataset}, measures by layer at the last epoch", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(len(labels), 5),
        frameon=False,
    )
    return fig, "; ".join(notes) + "." if notes else "No baseline on this dataset."


def network_tradeoff(study: Study):
    """Final test accuracy against trainable parameters, one panel per dataset: each
    (network, arm) its mean over seeds, its colour the arm, its marker the network, each
    network's arms joined to its baseline."""
    final = _final(study)
    final = final[final["test_acc"].notna()]
    if final.empty:
        raise style.NothingToDraw(f"{study.name}: no ok trial")
    datasets = sorted(final["dataset"].unique())
    networks = sorted(final["model"].unique())
    marks = {net: NETWORK_MARKERS[i % len(NETWORK_MARKERS)] for i, net in enumerate(networks)}
    fig, axes = style.grid(len(datasets), ncols=3, size=(5.2, 4.2))
    notes = []
    drawn: dict[str, set] = {"net": set(), "arm": set()}  # the legend names only these
    for ax, dataset in zip(axes, datasets, strict=True):
        sub = final[final["dataset"] == dataset]
        for net in networks:
            g = sub[sub["model"] == net]
            if g.empty:
                continue
            means = g.groupby("arm")[["trainable_params", "test_acc"]].mean()
            means["test_acc"] *= 100
            if "baseline" in means.index:
                base = means.loc["baseline"]
                for arm, row in means.drop(index="baseline").iterrows():
                    ax.plot(
                        [base.trainable_params, row.trainable_params],
                        [base.test_acc, row.test_acc],
                        color="grey",
                        lw=0.7,
                        alpha=0.6,
                    )
                    notes.append(
                        f"{net} on {dataset}, {arm}: {row.test_acc - base.test_acc:+.2f} pp test, "
                        f"{row.trainable_params / base.trainable_params - 1:+.1%} trainable"
                    )
            for arm, row in means.iterrows():
                if not (np.isfinite(row.trainable_params) and np.isfinite(row.test_acc)):
                    continue
                ax.plot(
                    row.trainable_params,
                    row.test_acc,
                    ls="none",
                    marker=marks[net],
                    ms=8,
                    color=style.color(arm),
                )
                drawn["net"].add(net)
                drawn["arm"].add(arm)
        params = sub["trainable_params"].to_numpy(float)
        if params.max() > 20 * params.min() > 0:
            ax.set_xscale("log")
        ax.xaxis.set_major_formatter(style.PARAMS_TICKS)
        ax.set_xlabel(f"{style.PARAMS_LABEL} at the last epoch")
        ax.set_ylabel("final test accuracy (%)")
        ax.set_title(dataset)
        ax.margins(x=0.15, y=0.15)
    # each point is two keys at once (its marker the network, its colour the arm), so the
    # legend shows one neutral handle per network and per arm, for those drawn only
    handles = [
        plt.Line2D([], [], ls="none", marker=marks[n], color="grey", label=n)
        for n in networks
        if n in drawn["net"]
    ]
    handles += [
        plt.Line2D([], [], ls="none", marker="o", color=style.color(a), label=style.label(a))
        for a in style.arms_in(final["arm"])
        if a in drawn["arm"]
    ]
    fig.suptitle(f"{study.name}: test accuracy against trainable parameters", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(len(handles), 5),
        frameon=False,
    )
    n = final.groupby(["model", "dataset", "arm"])["trial_id"].nunique()
    seeds = f"means over {int(n.min())}" + (f" to {int(n.max())}" if n.max() != n.min() else "")
    text = "; ".join(notes) if notes else "no arm with a baseline beside it"
    return fig, f"Against each network's baseline ({seeds} seeds): {text}."


def arch_nets_jobs(study: Study, eps_arg: float | None) -> list[Job]:
    """One depth-profile figure per dataset, then the accuracy/parameters figure."""
    name = study.name
    datasets = sorted(study.epochs["dataset"].dropna().unique()) if len(study.epochs) else []
    jobs = [
        Job(
            f"{name}: {dataset}, NCC, NC1 and CDNV by layer per network",
            f"{name}_{dataset}_profiles",
            "Final-epoch train NCC accuracy, NC1 and CDNV of every measured layer (the stem, "
            "each residual block or conv unit, each head layer; conv maps averaged over space), "
            "one panel per network, one line per arm; hollow markers are fixed layers.",
            lambda dataset=dataset: network_profiles(study, dataset),
        )
        for dataset in datasets
    ]
    jobs.append(
        Job(
            f"{name}: test accuracy against trainable parameters, per network",
            f"{name}_tradeoff",
            "Each network's arms (colour: the arm, marker: the network) at their mean final "
            "test accuracy and trainable parameters, joined to that network's baseline.",
            lambda: network_tradeoff(study),
        )
    )
    return jobs
