"""The paper's numbers beside ours: the table of Liu (arXiv 2412.00884) against our arm chosen
by a stated rule (`tables.paper_arm`), and the sentence that says the chosen arm against its
baseline, paired by seed."""

from __future__ import annotations

import pandas as pd

from nc_core.fixing.etf import ETF_KINDS
from nc_core.train.presets import PRESETS

from .load import Study
from .study_scale import scale
from .tables import KEYS, WITHIN, baseline_of, paper_arm

# Liu, arXiv 2412.00884, Fashion-MNIST (train %, test %); None: not reported.
PAPER = {
    "Adaptive-ETF (MLP)": ("eps_sweep", "Adaptive-ETF", (98.09, 89.38)),
    "MLP baseline": ("eps_sweep", "baseline", (None, None)),
    "ETF-Transformer (ViT)": ("vit_blocks", "ETF-Transformer", (93.23, 89.78)),
    "ViT baseline": ("vit_blocks", "baseline", (93.91, None)),
}
RULE = (
    f"The arm beside the paper's number is chosen by one rule: among the ETF arms (canonical "
    f"or rotated; the controls are not the paper's method) that fixed at least one layer and "
    f"whose mean test accuracy is within {WITHIN} points of their "
    "baseline's, the one with the most parameters fixed (fewest trainable). An arm that fixed "
    "nothing is the baseline and is never chosen."
)


def _fmt(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.2f}"


def _arm_text(row: pd.Series, keys: list[str]) -> str:
    parts = []
    for k in keys:
        if k == "method" or k not in row or pd.isna(row[k]):
            continue
        v = row[k]
        parts.append(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}")
    return ", ".join(parts)


def _ci(row: pd.Series, col: str) -> str:
    m, c = row[f"{col}_mean"], row.get(f"{col}_ci95", float("nan"))
    if pd.isna(m):
        return "—"
    return f"{m:.2f}" if pd.isna(c) else f"{m:.2f} ± {c:.2f}"


def chosen_sentence(table: pd.DataFrame, method: str, keys: list[str]) -> str:
    """The rule's arm against its baseline, with n, the paired difference and the parameters."""
    row = paper_arm(table, method)
    if row is None:
        fixed = table[
            (table["method"] == method)
            & table["kind"].isin(ETF_KINDS)
            & (table["layers_fixed_mean"] > 0)
        ]
        if fixed.empty:
            return f"No {method} arm fixed a layer, so none is set beside the paper's number."
        best = fixed.loc[fixed["test_acc_mean"].idxmax()]
        return (
            f"No {method} arm that fixed a layer came within {WITHIN} points of its baseline; "
            f"the closest, {_arm_text(best, keys)}, reached {_ci(best, 'test_acc')}% test "
            f"(n={int(best['n_seeds'])}, {best['test_acc_diff']:+.2f} pp paired)."
        )
    base = baseline_of(table, row)
    text = (
        f"By the rule, {method} {_arm_text(row, keys)}: test {_ci(row, 'test_acc')}% "
        f"(n={int(row['n_seeds'])}), {row['layers_fixed_mean']:.1f} layers fixed, "
        f"{row['params_reduction_pct']:.1f}% fewer trainable parameters"
    )
    if base is not None:
        diff = row["test_acc_diff"]
        text += (
            f" than the baseline, whose test accuracy is {_ci(base, 'test_acc')}% "
            f"(n={int(base['n_seeds'])}); paired by seed the difference is "
            + (
                f"{diff:+.2f}"
                + (
                    ""
                    if pd.isna(row["test_acc_diff_ci95"])
                    else f" ± {row['test_acc_diff_ci95']:.2f}"
                )
                + f" pp (n={int(row['n_pairs'])})"
                if not pd.isna(diff)
                else "not defined (no shared seed)"
            )
        )
    return text + "."


def paper_section(tables: dict[str, pd.DataFrame], studies: dict[str, Study]) -> str:
    lines = [
        RULE,
        "",
        "| result | paper train / test (%) | ours train / test (%, ± 95% CI) | n | ours − paper "
        "test (pp) | our arm | study and scale |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, (kind, method, paper) in PAPER.items():
        of_kind = [s for s in studies.values() if s.kind == kind and s.name in tables]
        if not of_kind:
            lines.append(
                f"| {name} | {_fmt(paper[0])} / {_fmt(paper[1])} | — | — | — | — | no "
                f"{kind.replace('_', ' ')} study found |"
            )
            continue
        for study in of_kind:
            table = tables[study.name]
            if method == "baseline":
                rows = table[table["method"] == "baseline"]
                row = None if rows.empty else rows.iloc[0]
            else:
                row = paper_arm(table, method)
            if row is None:
                lines.append(
                    f"| {name} | {_fmt(paper[0])} / {_fmt(paper[1])} | — | — | — | none "
                    f"qualifies (see below) | {study.name}: {scale(study)} |"
                )
                continue
            gap = (
                "—"
                if paper[1] is None or pd.isna(row["test_acc_mean"])
                else f"{row['test_acc_mean'] - paper[1]:+.2f}"
            )
            arm = "baseline" if method == "baseline" else _arm_text(row, KEYS[kind]) or method
            lines.append(
                f"| {name} | {_fmt(paper[0])} / {_fmt(paper[1])} | {_ci(row, 'train_acc')} / "
                f"{_ci(row, 'test_acc')} | {int(row['n_seeds'])} | {gap} | {arm} | "
                f"{study.name}: {scale(study)} |"
            )
    mlp, vit = PRESETS["paper"], PRESETS["vit-paper"]
    lines.append(
        f"\nThe paper trains on the full Fashion-MNIST train set (our `paper` preset: MLP width "
        f"{mlp['width']}, depth {mlp['depth']}, {mlp['epochs']} epochs; `vit-paper`: "
        f"{vit['epochs']} epochs) and reports one number per setting, without seeds or "
        "intervals. Fewer epochs lower train accuracy; a per-class subset of the train set is "
        "easier to fit but generalises worse. So read the gap to our own baseline (each "
        "study's table, paired by seed) before the gap to the paper."
    )
    return "\n".join(lines) + "\n"
