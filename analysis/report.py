"""`REPORT.md` as a results section: the paper's numbers beside ours (the arm chosen by a
stated rule), each study's table and figures with two sentences each, the controls, notes on
reproducing the paper, and the trials left out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nc_core.etf import ETF_KINDS
from nc_core.presets import PRESETS
from nc_core.study import final_epochs

from .load import KIND_TITLES, Study
from .stats import count
from .tables import KEYS, WITHIN, baseline_of, markdown, paper_arm
from .trials import with_arm

# Liu, arXiv 2412.00884, Fashion-MNIST (train %, test %); None: not reported.
PAPER = {
    "Adaptive-ETF (MLP)": ("eps_sweep", "Adaptive-ETF", (98.09, 89.38)),
    "MLP baseline": ("eps_sweep", "baseline", (None, None)),
    "ETF-Transformer (ViT)": ("vit_blocks", "ETF-Transformer", (93.23, 89.78)),
    "ViT baseline": ("vit_blocks", "baseline", (93.91, None)),
}
PAPER_CODE = "emilyzfliu/simplex-intermediate-nc"
RULE = (
    f"The arm beside the paper's number is chosen by one rule: among the ETF arms (canonical "
    f"or rotated; the controls are not the paper's method) that fixed at least one layer and "
    f"whose mean test accuracy is within {WITHIN} points of their "
    "baseline's, the one with the most parameters fixed (fewest trainable). An arm that fixed "
    "nothing is the baseline and is never chosen."
)


@dataclass(frozen=True)
class Drawn:
    """A figure's outcome: its PNG (None when skipped), what it shows, and the computed note
    (or why it is absent)."""

    title: str
    path: Path | None
    note: str
    shows: str = ""


def scale(study: Study) -> str:
    """'MLP width 64 depth 6; fashion_mnist; 8 epochs; first 100 train images per class;
    3 seeds [0, 1, 2]; 21 trials'."""
    f = final_epochs(study.epochs)
    model = "/".join(sorted(f["model"].astype(str).unique()))
    if model == "vit":
        shape = "ViT " + ", ".join(
            sorted(
                {f"dim {d} x {b} blocks" for d, b in zip(f["vit_dim"], f["vit_depth"], strict=True)}
            )
        )
    else:
        shape = "MLP " + ", ".join(
            sorted({f"width {w} depth {d}" for w, d in zip(f["width"], f["depth"], strict=True)})
        )
    subsets = {
        ("full train set" if pd.isna(s) else f"first {int(s)} train images per class")
        for s in f["subset"]
    }
    seeds = sorted(int(s) for s in f["seed"].unique())
    epochs = "/".join(str(int(e)) for e in sorted(f["epochs"].unique()))
    return (
        f"{shape}; {', '.join(sorted(f['dataset'].unique()))}; {epochs} epochs; "
        f"{', '.join(sorted(subsets))}; {count(len(seeds), 'seed')} {seeds}; "
        f"{count(len(f), 'trial')}"
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


def paper_length_baseline(studies: dict[str, Study]) -> str:
    """Our constant-rate MLP baseline at the paper's length, if any study ran one."""
    epochs = PRESETS["paper"]["epochs"]
    rows = []
    for study in studies.values():
        f = with_arm(final_epochs(study.epochs))
        sel = f[
            (f["arm"] == "baseline")
            & (f["model"] == "mlp")
            & (f["epochs"] >= epochs)
            & (f["status"] == "ok")
        ]
        if "schedule" in sel:
            sel = sel[sel["schedule"] == "constant"]
        if len(sel):
            rows.append(
                f"{study.name}: {100 * sel['train_acc'].mean():.2f} / "
                f"{100 * sel['test_acc'].mean():.2f}% train / test "
                f"(n={len(sel)}, {int(sel['epochs'].max())} epochs, constant rate)"
            )
    if rows:
        return "Our constant-rate baseline at paper length: " + "; ".join(rows) + "."
    return (
        f"No study here ran a constant-rate MLP baseline of {epochs} or more epochs, so it "
        "cannot be shown beside the paper's numbers yet; `python -m nc_core.train --preset "
        "paper --policy none --schedule constant --epochs 400 --out paper_baseline.parquet` "
        "runs it (on a GPU), and `make_figures --run paper_baseline.parquet` draws it."
    )


def reproduction_notes(studies: dict[str, Study]) -> str:
    """What the paper's public code does (read at commit 0931a7c of its `simplex_etf.py`)."""
    return "\n".join(
        [
            f"The paper's public code ([{PAPER_CODE}](https://github.com/{PAPER_CODE}), "
            "`simplex_etf.py`) differs from the method the paper describes in three ways that "
            "matter here:",
            "",
            "- **Its adaptive rule cannot fire.** `train` sets `patience = None` at the start of "
            "every phase, and `update_model` builds its dict locally and never returns it, so "
            "the patience count never passes 0. `set_etf` also reads globals `L` and `H` that "
            "the module never defines (and is given keys like `ncc_1` that it cannot parse).",
            "- **Its learning-rate scheduler never steps.** The step sits under "
            "`if 'phase' == 'train':`, a comparison of two string literals, so the "
            "MultiStepLR milestones never apply and the rate is a constant 0.01 for all 400 "
            "epochs.",
            "- **Its class means divide by the total count**, not the class count "
            "(`feature_means[elem] / running_count`), so its NCC uses means shrunk towards the "
            "origin by about 1/K: not nearest-class-centre accuracy as defined.",
            "",
            "So a number that code reports as Adaptive-ETF comes from a network in which no "
            "layer was fixed adaptively, trained at a constant rate of 0.01 for 400 epochs: it "
            "is best compared with our constant-rate baseline at paper length, and its NCC "
            "values are not comparable with ours. " + paper_length_baseline(studies),
        ]
    )


def diverged_section(studies: dict[str, Study]) -> str:
    rows = []
    for name, study in studies.items():
        f = with_arm(final_epochs(study.epochs))
        for r in f[f["status"] != "ok"].itertuples():
            rows.append(
                f"| {name} | {r.trial_id} | {r.status} | {r.arm_label} | {r.seed} | {r.epoch} |"
            )
    if not rows:
        return "None: every trial finished with status ok.\n"
    head = [
        "Excluded from every mean and figure (their last epoch row is shown):",
        "",
        "| study | trial | status | arm | seed | last epoch |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join(head + rows) + "\n"


def _figure(drawn: Drawn) -> list[str]:
    out = [f"### {drawn.title}", ""]
    if drawn.path is None:
        return out + [f"Skipped: {drawn.note}", ""]
    return out + [f"![{drawn.title}]({drawn.path.name})", "", f"{drawn.shows} {drawn.note}", ""]


def build_report(
    *,
    source: str,
    studies: dict[str, Study],
    tables: dict[str, pd.DataFrame],
    table_notes: dict[str, str],
    figures: dict[str, list[Drawn]],
    controls: list[Drawn],
) -> str:
    """The Markdown text of REPORT.md (figure links relative to the report's folder)."""
    out = [
        "# Results: neural collapse with simplex-ETF layers",
        "",
        f"Generated by `python -m analysis.make_figures` from `{source}`. Accuracies are "
        "final-epoch values in %. Every mean over 2 or more seeds carries a Student-t 95% "
        "confidence interval (± half-width) and its n; a difference to the baseline is taken "
        "per seed and then averaged (paired by seed). Trials that diverged or failed are "
        "listed at the end and left out of every mean.",
        "",
        "## Studies",
        "",
    ]
    for name, study in studies.items():
        out.append(
            f"- **{name}** — {KIND_TITLES.get(study.kind, study.kind)} (`{study.kind}`, "
            f"{study.kind_source}): {scale(study)}."
        )
        out += [f"  - **{p.split(':')[0]}**:{p.partition(':')[2]}" for p in study.problems]
    if any(s.kind in ("eps_sweep", "vit_blocks") for s in studies.values()):
        out += ["", "## The paper's numbers beside ours", "", paper_section(tables, studies)]
        for name, study in studies.items():
            if study.kind in ("eps_sweep", "vit_blocks") and name in table_notes:
                out += [f"- {name}: {table_notes[name]}"]
        out.append("")
    for name, study in studies.items():
        out += [f"## {name}: {KIND_TITLES.get(study.kind, study.kind)}", ""]
        if name in tables:
            out += [
                table_notes.get(name, ""),
                "",
                markdown(tables[name]),
                f"CSV: [{name}_table.csv]({name}_table.csv). `fixed_at`: layer@median epoch "
                "at whose end it was fixed ((k/n): in k of n seeds; 0 = from the start); "
                "`params reduction`: trainable parameters below the baseline's; `excluded`: "
                "diverged or failed trials.",
                "",
            ]
        for drawn in figures.get(name, []):
            out += _figure(drawn)
    if controls:
        out += ["## Controls: every kind at equal layers fixed", ""]
        for drawn in controls:
            out += _figure(drawn)
    out += ["## Reproduction notes", "", reproduction_notes(studies), ""]
    out += ["## Diverged or failed trials", "", diverged_section(studies)]
    return "\n".join(out).rstrip() + "\n"
