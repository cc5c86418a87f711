"""`REPORT.md`: every table and figure with a sentence computed from the data, the paper's
reference numbers beside ours, the scale each study ran at, and the trials left out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nc_core.config import PRESETS

from .load import Study
from .tables import TABLE2_KEYS, markdown
from .trials import SETUP_FIELDS, final_rows, with_arm

# Liu, arXiv 2412.00884, Fashion-MNIST (train %, test %); None: not reported.
PAPER = {
    "Adaptive-ETF (MLP)": (98.09, 89.38),
    "ETF-Transformer (ViT)": (93.23, 89.78),
    "ViT baseline": (93.91, None),
}


LEGENDS = {
    "table1_mlp": "`fixed_at`: layer@median epoch it was fixed over the arm's ok seeds ((k/n): "
    "fixed in k of n seeds); `params reduction`: trainable parameters below the "
    "baseline's, in %; `excluded`: diverged or failed trials (listed at the end).",
    "table2_vit": "`fixed_at`: layer@epoch, 0 = fixed from the start (ETF-Transformer blocks are "
    "static); other columns as in Table 1.",
    "table3_etf_vs_freeze": "One row per (study, setup, layers fixed at the last epoch, arm); "
    "`n` ok trials, pooled over every other setting (eps, fix_from, "
    "blocks), baselines at 0 layers fixed.",
}


@dataclass(frozen=True)
class Drawn:
    """A figure's outcome: its PNG (None when skipped) and what it shows, or why it is absent."""

    title: str
    path: Path | None
    note: str


def _scale(study: Study) -> str:
    """'mlp width 64 depth 6, fashion_mnist, 8 epochs, 100 images/class, seeds 0-2 (3)'."""
    f = final_rows(study.epochs)
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
        f"{', '.join(sorted(subsets))}; {len(seeds)} seed(s) {seeds}; {len(f)} trials"
    )


def _row_for(table: pd.DataFrame, method: str) -> pd.Series | None:
    rows = table[(table["method"] == method) & table["test_acc_mean"].notna()]
    return None if rows.empty else rows.loc[rows["test_acc_mean"].idxmax()]


def _baseline_for(table: pd.DataFrame, row: pd.Series) -> pd.Series | None:
    base = table[table["method"] == "baseline"]
    for col in [c for c in SETUP_FIELDS if c in table]:
        base = base[base[col].map(str) == str(row[col])]
    return None if base.empty else base.iloc[0]


def _arm_text(row: pd.Series, keys: list[str]) -> str:
    return ", ".join(
        f"{k}={row[k]:g}" if isinstance(row[k], float) else f"{k}={row[k]}"
        for k in keys
        if k in row and k != "method"
    )


def best_sentence(table: pd.DataFrame, method: str, keys: list[str]) -> str:
    """'best Adaptive-ETF: eps=…, kind=…, test …% vs baseline …%, …% fewer trainable params'."""
    row = _row_for(table, method)
    if row is None:
        return f"No ok {method} trial."
    text = (
        f"Best {method} by mean test accuracy: {_arm_text(row, keys)}: train "
        f"{row['train_acc_mean']:.2f}%, test {row['test_acc_mean']:.2f}% "
        f"(n={row['n_seeds']})"
    )
    base = _baseline_for(table, row)
    if base is not None:
        text += (
            f" against the baseline's train {base['train_acc_mean']:.2f}%, test "
            f"{base['test_acc_mean']:.2f}% (n={base['n_seeds']}), with "
            f"{row['params_reduction_pct']:.1f}% fewer trainable parameters "
            f"({row['trainable_params_mean']:,.0f} vs {base['trainable_params_mean']:,.0f})"
        )
    return text + "."


def _fmt(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.2f}"


def paper_section(tables: dict[str, pd.DataFrame], studies: dict[str, Study | None]) -> str:
    """The paper's numbers beside ours, with the scale ours ran at."""
    t1, t2 = tables.get("table1_mlp"), tables.get("table2_vit")
    ours = {
        "Adaptive-ETF (MLP)": (t1, "Adaptive-ETF", "eps_sweep"),
        "ETF-Transformer (ViT)": (t2, "ETF-Transformer", "vit_blocks"),
        "ViT baseline": (t2, "baseline", "vit_blocks"),
    }
    lines = [
        "| result | paper train / test (%) | ours train / test (%) | ours − paper (pp) | "
        "our arm | our scale |",
        "|---|---|---|---|---|---|",
    ]
    arm_keys = {"Adaptive-ETF": ["eps", "kind"], "ETF-Transformer": TABLE2_KEYS, "baseline": []}
    for name, paper in PAPER.items():
        table, method, study = ours[name]
        row = None if table is None else _row_for(table, method)
        scale = "study not run" if studies.get(study) is None else _scale(studies[study])
        mine = (None, None) if row is None else (row["train_acc_mean"], row["test_acc_mean"])
        gaps = [None if m is None or p is None else m - p for m, p in zip(mine, paper, strict=True)]
        arm = "—" if row is None else (_arm_text(row, arm_keys[method]) or method)
        lines.append(
            f"| {name} | {_fmt(paper[0])} / {_fmt(paper[1])} | {_fmt(mine[0])} / "
            f"{_fmt(mine[1])} | {' / '.join('—' if g is None else f'{g:+.2f}' for g in gaps)} | "
            f"{arm} | {scale} |"
        )
    mlp, vit = PRESETS["paper"], PRESETS["vit-paper"]
    lines.append(
        f"\nThe paper trains on the full Fashion-MNIST train set (the `paper` preset: MLP width "
        f"{mlp['width']}, depth {mlp['depth']}, {mlp['epochs']} epochs; `vit-paper`: "
        f"{vit['epochs']} epochs) and reports one number per setting. Ours are the best arm "
        "of each study by mean test accuracy over seeds (picking the best of several arms "
        "flatters ours a little), at the scale in the last column. Fewer epochs lower train "
        "accuracy; a per-class subset of the train set is easier to fit (higher train "
        "accuracy) but generalises worse (lower test accuracy). So read the gap to our own "
        "baseline (Tables 1 and 2) before the gap to the paper."
    )
    return "\n".join(lines) + "\n"


def diverged_section(studies: dict[str, Study | None]) -> str:
    rows = []
    for name, study in studies.items():
        if study is None:
            continue
        f = with_arm(final_rows(study.epochs))
        for r in f[f["status"] != "ok"].itertuples():
            eps = "" if pd.isna(r.eps) else f" eps={r.eps:g}"
            rows.append(
                f"| {name} | {r.trial_id} | {r.status} | {r.method}{eps} {r.arm} | "
                f"{r.seed} | {r.epoch} |"
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


def build_report(
    *,
    results: Path,
    studies: dict[str, Study | None],
    tables: dict[str, pd.DataFrame],
    table_notes: dict[str, str],
    figures: list[Drawn],
) -> str:
    """The Markdown text of REPORT.md (figure links relative to the report's folder)."""
    out = [
        "# Neural collapse with simplex ETFs: results",
        "",
        f"Generated by `python analysis/make_figures.py` from `{results}`. Accuracies are "
        "final-epoch values in %, mean ± std over seeds; trials that diverged or failed are "
        "listed at the end and excluded from means.",
        "",
        "## Studies",
        "",
    ]
    for name, study in studies.items():
        if study is None:
            out.append(
                f"- **{name}**: missing (no `{results}/{name}/epochs.parquet`); its "
                "tables and figures are skipped."
            )
        else:
            out.append(f"- **{name}**: {_scale(study)}.")
    out += ["", "## The paper's numbers and ours", "", paper_section(tables, studies)]
    titles = {
        "table1_mlp": "Table 1: MLP, baseline and Adaptive-ETF (eps_sweep)",
        "table2_vit": "Table 2: ViT, baseline and ETF feedforward blocks (vit_blocks)",
        "table3_etf_vs_freeze": "Table 3: ETF against freeze-in-place at equal layers "
        "fixed (all studies)",
    }
    for stem, title in titles.items():
        out += [f"## {title}", ""]
        if stem not in tables:
            out += [f"Skipped: {table_notes.get(stem, 'its study is missing')}", ""]
            continue
        out += [
            table_notes.get(stem, ""),
            "",
            markdown(tables[stem]),
            f"CSV: [{stem}.csv]({stem}.csv). {LEGENDS[stem]}",
            "",
        ]
    for drawn in figures:
        out += [f"## {drawn.title}", ""]
        if drawn.path is None:
            out += [f"Skipped: {drawn.note}", ""]
        else:
            out += [f"![{drawn.title}]({drawn.path.name})", "", drawn.note, ""]
    out += ["## Diverged or failed trials", "", diverged_section(studies)]
    return "\n".join(out).rstrip() + "\n"
