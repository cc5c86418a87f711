"""Each ETF kind against each control kind at the same settings, paired by seed: the comparison
the controls exist for (is it the ETF, or any fixed map?).

Two arms are a pair when every config field but the kind agrees (study, network, data, policy,
mode, eps, blocks fixed ...): their final test accuracies are differenced per seed over the seeds
both have (`stats.paired`). Layers fixed may differ between the two; the table gives each arm's
mean beside the difference. A pair in which neither arm fixed a layer compares two baselines; it
is kept in the CSV (`fixed_any` false) and left out of the Markdown and the sentence, which say
how many were.
"""

from __future__ import annotations

import pandas as pd

from nc_core.fixing.etf import ETF_KINDS

from ..loading.load import Study
from .stats import comparison, paired
from .trials import POLICY_FIELDS, SETUP_FIELDS, keys_text, ok_final, varying

CONTROL_KINDS = ("orthogonal", "freeze")
COLUMNS = [
    "study",
    "settings",
    "etf",
    "control",
    "diff_mean",
    "diff_ci95",
    "n",
    "detected",
    "etf_missing_seeds",
    "control_missing_seeds",
    "etf_layers_fixed",
    "control_layers_fixed",
    "fixed_any",
    "comparison",
]


def kind_differences(studies: list[Study]) -> pd.DataFrame:
    """One row per (ETF kind, control kind) pair of arms at the same settings in each study:
    the paired difference of final test accuracy (pp) with its 95% CI and n, whether the CI
    excludes 0 (`detected`), the seeds either arm lacks, and `comparison`, the sentence."""
    rows = []
    for study in studies:
        final = ok_final(study.epochs)
        fixed = final[final["arm"] != "baseline"].assign(v=lambda d: 100 * d["test_acc"])
        if fixed.empty:
            continue
        same = [c for c in SETUP_FIELDS + POLICY_FIELDS if c in fixed and c != "kind"]
        shown = varying(fixed, [c for c in same if c != "policy"])
        if (fixed["policy"] == "adaptive").any():  # the rule's reading and eps: always said
            shown = ["mode", "eps", *[c for c in shown if c not in ("mode", "eps")]]
        key = fixed[same].apply(lambda col: col.map(str)).agg("|".join, axis=1)
        groups = fixed.assign(_key=key)
        for _, g in groups.groupby("_key", sort=True):
            settings = keys_text(g.iloc[0], shown) or "—"
            for etf in [k for k in ETF_KINDS if (g["kind"] == k).any()]:
                for control in [k for k in CONTROL_KINDS if (g["kind"] == k).any()]:
                    a, b = g[g["kind"] == etf], g[g["kind"] == control]
                    p = paired(a, b, "v")
                    rows.append(
                        {
                            "study": study.name,
                            "settings": settings,
                            "etf": etf,
                            "control": control,
                            "diff_mean": p.estimate.mean,
                            "diff_ci95": p.estimate.ci,
                            "n": p.estimate.n,
                            "detected": p.detected,
                            "etf_missing_seeds": " ".join(map(str, p.only_b)),
                            "control_missing_seeds": " ".join(map(str, p.only_a)),
                            "etf_layers_fixed": a["layers_fixed"].mean(),
                            "control_layers_fixed": b["layers_fixed"].mean(),
                            "fixed_any": bool((a["layers_fixed"] > 0).any())
                            or bool((b["layers_fixed"] > 0).any()),
                            "comparison": comparison(p, etf, control),
                        }
                    )
    return pd.DataFrame(rows, columns=COLUMNS)


def _unfixed(table: pd.DataFrame) -> str:
    n = int((~table["fixed_any"]).sum())
    return f"{n} pair{'s' if n != 1 else ''} in which neither arm fixed a layer left out"


def markdown_pairs(table: pd.DataFrame) -> str:
    """The pairs in which a layer was fixed, as Markdown: study, settings, the comparison
    sentence, layers fixed."""
    shown = table[table["fixed_any"]] if len(table) else table
    if shown.empty:
        return (
            "_(no study has an ETF kind and a control kind at the same settings that fixed a "
            f"layer{'; ' + _unfixed(table) if len(table) else ''})_\n"
        )
    lines = [
        "| study | settings | ETF kind − control, test accuracy paired by seed | layers fixed "
        "(ETF / control) |",
        "|---|---|---|---|",
    ]
    for r in shown.itertuples():
        lines.append(
            f"| {r.study} | {r.settings} | {r.comparison} | "
            f"{r.etf_layers_fixed:.1f} / {r.control_layers_fixed:.1f} |"
        )
    if len(shown) < len(table):
        lines += ["", f"({_unfixed(table)}: they compare two baselines.)"]
    return "\n".join(lines) + "\n"


def pairs_sentence(table: pd.DataFrame) -> str:
    """One sentence over the pairs: how many, and in how many the 95% CI excludes 0."""
    if table.empty:
        return "No study has an ETF kind and a control kind at the same settings."
    if not table["fixed_any"].any():
        return (
            "No pair of an ETF kind and a control at the same settings fixed a layer "
            f"({_unfixed(table)}: they compare two baselines)."
        )
    left_out = "" if table["fixed_any"].all() else f"; {_unfixed(table)}"
    table = table[table["fixed_any"]]
    detected = table[table["detected"]]
    incomplete = table[(table["etf_missing_seeds"] != "") | (table["control_missing_seeds"] != "")]
    text = (
        f"{len(table)} comparison{'s' if len(table) != 1 else ''} of an ETF kind with a control "
        "at the same settings, paired by seed over the seeds both arms have; the 95% CI "
        f"excludes 0 in {len(detected)}"
    )
    if len(detected):
        text += " (" + "; ".join(f"{r.settings}: {r.comparison}" for r in detected.itertuples())
        text += ")"
    if len(incomplete):
        text += f"; {len(incomplete)} incomplete (an arm lacks seeds the other has)"
    return text + left_out + "."
