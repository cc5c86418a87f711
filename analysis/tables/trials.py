"""Trial-level views of the tidy tables: the arm a trial belongs to, which setup it ran in, and
when its layers were fixed. A trial's final row is `nc_core.study.summary.final_epochs` (`ok_final`:
those of ok trials, with their arm); the effective depth is `nc_core.measure.depth` (each
definition once)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nc_core.fixing.etf import ETF_KINDS
from nc_core.study.registry import is_baseline
from nc_core.study.summary import final_epochs

from ..loading import columns

# Config fields that describe the ETF policy, not the network or the training it is compared in.
# Baseline rows carry defaults here that mean nothing, so they are blanked for grouping.
POLICY_FIELDS = [
    "policy",
    "eps",
    "kind",
    "mode",
    "patience",
    "min_epoch",
    "max_fixed",
    "fix_from",
    columns.ETF_BLOCKS,
    columns.ETF_LINEARS,
    "eval_every",
    "nc_samples",
]
RUN_FIELDS = ["seed", "device"]  # repeat or placement of a run: never a grouping key
SETUP_FIELDS = [c for c in columns.ALL_CONFIG if c not in POLICY_FIELDS + RUN_FIELDS]
# What a fixed arm is called where no study declares it (a single run): by its policy, and
# "ETF-Transformer" for a ViT with blocks fixed from the start (Liu, arXiv 2412.00884).
POLICY_METHODS = {"adaptive": "Adaptive-ETF", "static": "StaticETF"}
FIXED_FROM_START = "ETF-Transformer"
DEFAULT_EPS = 0.1  # the effective depth's threshold where a figure is not told another


def with_arm(df: pd.DataFrame, method: str | None = None) -> pd.DataFrame:
    """Add `method` (baseline, else `method` where a study declares what its fixed arms are
    called, else the name of the row's policy; "... control" for a control kind, orthogonal or
    freeze, which is not the paper's method), `arm` (baseline or the kind a fixed layer
    becomes) and `arm_label`; blank the policy fields of baseline rows."""
    df = df.copy()
    base = is_baseline(df)
    static_vit = (df["policy"] == "none") & ~base
    df["method"] = df["policy"].map(POLICY_METHODS).fillna("baseline")
    df.loc[static_vit, "method"] = FIXED_FROM_START
    if method is not None:
        df.loc[~base, "method"] = method
    control = ~base & df["kind"].notna() & ~df["kind"].isin(ETF_KINDS)
    df.loc[control, "method"] = df.loc[control, "method"] + " control"  # orthogonal, freeze
    df["arm"] = df["kind"].where(~base, "baseline")
    df["arm_label"] = df.apply(arm_label, axis=1) if len(df) else pd.Series(dtype=str)
    for col in POLICY_FIELDS:
        if col == "policy":
            continue
        if pd.api.types.is_numeric_dtype(df[col]):
            df[col] = df[col].astype(float).where(~base, np.nan)
        else:
            df[col] = df[col].astype(object).where(~base, "none")
    return df


def varying(df: pd.DataFrame, columns: list[str]) -> list[str]:
    """The columns among `columns` that take more than one value in `df` (None counts)."""
    return [c for c in columns if c in df and df[c].map(str).nunique() > 1]


def ok_final(epochs: pd.DataFrame) -> pd.DataFrame:
    """Each ok trial's final row, with its arm (`with_arm`). Trials that diverged or failed are
    listed in the report, never averaged or drawn."""
    final = with_arm(final_epochs(epochs))
    return final[final["status"] == "ok"]


def trial_ids(df: pd.DataFrame) -> list[str]:
    """The trial ids of `df`'s rows, in order."""
    return list(df["trial_id"])


def fix_epochs(layers: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """One row per (trial_id, layer) fixed during the trial: `layer`, `layer_index`, `epoch`.

    Read from the layer table's `fixed_epoch` at each trial's last measured epoch (0 = fixed
    from the start); for a trial without layer rows, from `fixed_layers` (the layers fixed
    during an epoch): first listed in epoch e means fixed at the end of epoch e - 1.
    """
    rows = []
    if len(layers):
        last = layers[layers["epoch"] == layers.groupby("trial_id")["epoch"].transform("max")]
        fixed = last[last["fixed_epoch"] >= 0]
        rows.append(
            pd.DataFrame(
                {
                    "trial_id": fixed["trial_id"],
                    "layer": fixed["layer"],
                    "layer_index": fixed["layer_index"],
                    "epoch": fixed["fixed_epoch"],
                }
            )
        )
    seen = set(layers["trial_id"]) if len(layers) else set()
    rest = epochs[~epochs["trial_id"].isin(seen)].sort_values(["trial_id", "epoch"])
    first: dict[tuple[str, str], int] = {}
    for trial, epoch, names in rest[["trial_id", "epoch", "fixed_layers"]].itertuples(index=False):
        for name in names:  # a list column (`nc_core.results.records.name_lists`)
            first.setdefault((trial, name), int(epoch) - 1)
    if first:
        rows.append(
            pd.DataFrame(
                [
                    {"trial_id": t, "layer": n, "layer_index": np.nan, "epoch": e}
                    for (t, n), e in first.items()
                ]
            )
        )
    if not rows:
        return pd.DataFrame(columns=["trial_id", "layer", "layer_index", "epoch"])
    return pd.concat(rows, ignore_index=True)


def fix_schedule(fixes: pd.DataFrame, trial_ids: list[str]) -> str:
    """'fc7@6, fc6@9': median epoch each layer was fixed over `trial_ids`, earliest first;
    '(k/n)' follows a layer fixed in only k of the n trials. '' when nothing was fixed."""
    sub = fixes[fixes["trial_id"].isin(trial_ids)]
    if sub.empty:
        return ""
    n = len(set(trial_ids))
    per = sub.groupby("layer").agg(
        epoch=("epoch", "median"), k=("trial_id", "nunique"), index=("layer_index", "first")
    )
    per = per.sort_values(["epoch", "index"], ascending=[True, False])
    parts = []
    for layer, row in per.iterrows():
        part = f"{layer}@{row['epoch']:g}"
        parts.append(part if row["k"] == n else f"{part} ({int(row['k'])}/{n})")
    return ", ".join(parts)


def arm_label(row) -> str:
    """'baseline', 'layer eps=0.1 canonical', 'from layer 3 freeze', 'last:2 fc1 rotated': what
    an arm is, by what fixes its layers (the adaptive rule's reading, `layer` or `beyond`, and
    eps; the static fix_from; or the ViT blocks fixed from the start)."""
    if row["arm"] == "baseline":
        return "baseline"
    if row["policy"] == "adaptive":
        return f"{row.get('mode', 'layer')} eps={float(row['eps']):g} {row['kind']}"
    if row["policy"] == "static":
        return f"from layer {int(row['fix_from'])} {row['kind']}"
    if row["policy"] == "none":
        return f"{row[columns.ETF_BLOCKS]} {row[columns.ETF_LINEARS]} {row['kind']}"
    return str(row["kind"])


def study_eps(final: pd.DataFrame, requested: float | None, default: float = DEFAULT_EPS) -> float:
    """The eps the per-layer figures are drawn at (`eps_choice`, without its reason)."""
    return eps_choice(final, requested, default)[0]


def eps_choice(
    final: pd.DataFrame, requested: float | None, default: float = DEFAULT_EPS
) -> tuple[float, str]:
    """(eps, why) for the per-layer figures of the ok final rows `final`: `requested`
    (`--eps`) if given; else, of the eps the Adaptive-ETF arms ran at, `default` when an arm
    fixed a layer there, else the one at which the most arms fixed one (the nearest to
    `default` among equals), so a figure never shows only arms that fixed nothing when others
    did; else `default` when an arm ran at it, else their median eps."""
    if requested is not None:
        return float(requested), "given by --eps"
    adaptive = final[final["policy"] == "adaptive"].dropna(subset=["eps"])
    ran = sorted(adaptive["eps"].astype(float).unique())
    if not ran:
        return default, "the default (no Adaptive-ETF arm ran)"
    fixing = (adaptive["layers_fixed"].fillna(0) > 0).groupby(adaptive["eps"].astype(float)).sum()
    if fixing.max() > 0:
        if any(np.isclose(e, default) and n > 0 for e, n in fixing.items()):
            return default, "the default, at which arms fixed layers"
        best = [float(e) for e, n in fixing.items() if n == fixing.max()]
        eps = min(best, key=lambda e: (abs(e - default), e))
        return eps, (
            f"chosen from the data: at eps={eps:g} the most arms fixed a layer "
            f"({int(fixing.max())}); none did at the default {default:g}"
        )
    if any(np.isclose(ran, default)):
        return default, "the default; no arm fixed a layer at any eps"
    median = float(ran[len(ran) // 2])
    return median, "the median eps the arms ran at; no arm fixed a layer at any eps"


def layer_names(layers: pd.DataFrame) -> dict[int, str]:
    """layer_index -> layer name, as measured."""
    pairs = layers[["layer_index", "layer"]].drop_duplicates("layer_index")
    return {int(i): str(n) for i, n in pairs.itertuples(index=False)}


def keys_text(row, keys) -> str:
    """'eps=0.1, kind=canonical': the values of `keys` in `row` ("method" and missing ones left
    out), floats in their shortest form."""
    parts = []
    for k in keys:
        if k == "method" or k not in row or pd.isna(row[k]):
            continue
        v = row[k]
        parts.append(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}")
    return ", ".join(parts)
