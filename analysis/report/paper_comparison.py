"""The paper's numbers beside ours: every published number a study declares
(`StudyType.paper`) against our arm chosen by a stated rule (`tables.arms.paper_arm`), and the
sentence that says the chosen arm against its baseline, paired by seed over the seeds both have,
with its 95% CI and n."""

from __future__ import annotations

import pandas as pd

from nc_core.fixing.etf import ETF_KINDS
from nc_core.study.declaration import PaperNumber, StudyType
from nc_core.study.registry import builtin_types
from nc_core.train.presets import PRESETS

from ..loading.load import Study
from ..tables.arms import WITHIN, baseline_of, paper_arm
from ..tables.markdown import count
from ..tables.stats import Estimate, Paired, verdict
from ..tables.trials import keys_text
from .study_scale import scale

RULE = (
    f"The arm beside the paper's number is chosen by one rule: among the ETF arms (canonical "
    f"or rotated; the controls are not the paper's method) that fixed at least one layer and "
    f"whose test accuracy minus their baseline's, paired by seed over the seeds both have "
    f"(n >= 1), is on average at least −{WITHIN} points, the one with the most parameters "
    "fixed (fewest trainable). The sentence under the table gives that paired difference with "
    "its 95% CI and n. An arm that fixed nothing is the baseline and is never chosen."
)


def paired_text(row: pd.Series) -> str:
    """'+0.31 ± 1.05 pp (95% CI, n=3): no difference detected at n=3[; incomplete: ...]'."""
    estimate = Estimate(row["test_acc_diff"], row["test_acc_diff_ci95"], int(row["n_pairs"]))
    text = verdict(Paired(estimate))
    missing = str(row.get("seeds_missing", "") or "")
    return text + (f"; incomplete: {missing}" if missing else "")


def compared_types(studies: dict[str, Study]) -> list[StudyType]:
    """The study types with published numbers: every built-in one (said "not found" where no
    such study is here), then those of the studies here declared elsewhere."""
    types = {t.name: t for t in builtin_types()}
    for study in studies.values():
        if study.type is not None:
            types.setdefault(study.type.name, study.type)
    return [t for t in types.values() if t.paper]


def has_paper_numbers(study: Study) -> bool:
    return study.type is not None and bool(study.type.paper)


def _fmt(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.2f}"


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
        paired_rows = fixed[fixed["n_pairs"] >= 1]
        if paired_rows.empty:
            return (
                f"No {method} arm that fixed a layer shares a seed with its baseline, so none "
                "is set beside the paper's number."
            )
        best = paired_rows.loc[paired_rows["test_acc_diff"].idxmax()]
        return (
            f"No {method} arm that fixed a layer came within {WITHIN} points of its baseline "
            f"(paired by seed); the closest, {keys_text(best, keys)}, reached "
            f"{_ci(best, 'test_acc')}% test (n={int(best['n_seeds'])}); minus its baseline, "
            f"paired by seed: {paired_text(best)}."
        )
    base = baseline_of(table, row)
    text = (
        f"By the rule, {method} {keys_text(row, keys)}: test {_ci(row, 'test_acc')}% "
        f"(n={int(row['n_seeds'])}), {count(row['layers_fixed_mean'])} layers fixed, "
        f"{row['params_reduction_pct']:.1f}% fewer trainable parameters"
    )
    if base is not None:
        text += (
            f" than the baseline, whose test accuracy is {_ci(base, 'test_acc')}% "
            f"(n={int(base['n_seeds'])}); the arm minus the baseline, paired by seed over the "
            f"seeds both have: {paired_text(row)}"
        )
    return text + "."


def _paper_row(
    number: PaperNumber, paper: str, study_type: StudyType, study: Study, table: pd.DataFrame
) -> str:
    """One row of the comparison: `number` beside the arm of `study` it is compared with."""
    where = f"{study.name}: {scale(study)}"
    if number.arm == "baseline":
        rows = table[table["method"] == "baseline"]
        row = None if rows.empty else rows.iloc[0]
    else:
        row = paper_arm(table, study_type.method)
    if row is None:
        return f"| {number.result} | {paper} | — | — | — | none qualifies (see below) | {where} |"
    gap = (
        "—"
        if number.test is None or pd.isna(row["test_acc_mean"])
        else f"{row['test_acc_mean'] - number.test:+.2f}"
    )
    keys = list(dict.fromkeys(["method", "mode", *study_type.arm_keys]))  # mode: always said
    arm = "baseline" if number.arm == "baseline" else keys_text(row, keys) or study_type.method
    return (
        f"| {number.result} | {paper} | {_ci(row, 'train_acc')} / {_ci(row, 'test_acc')} | "
        f"{int(row['n_seeds'])} | {gap} | {arm} | {where} |"
    )


def paper_section(tables: dict[str, pd.DataFrame], studies: dict[str, Study]) -> str:
    lines = [
        RULE,
        "",
        "| result | paper train / test (%) | ours train / test (%, ± 95% CI) | n | ours − paper "
        "test (pp) | our arm | study and scale |",
        "|---|---|---|---|---|---|---|",
    ]
    for study_type in compared_types(studies):
        of_type = [s for s in studies.values() if s.kind == study_type.name and s.name in tables]
        for number in study_type.paper:
            paper = f"{_fmt(number.train)} / {_fmt(number.test)}"
            if not of_type:
                lines.append(
                    f"| {number.result} | {paper} | — | — | — | — | no "
                    f"{study_type.name.replace('_', ' ')} study found |"
                )
                continue
            for study in of_type:
                lines.append(_paper_row(number, paper, study_type, study, tables[study.name]))
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
