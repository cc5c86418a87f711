"""Tables as files: readable Markdown of a table of plain numbers (a mean with its 95% CI in
one cell, parameter counts with thousands separators) and the pair `stem.csv` / `stem.md`,
each written atomically (`nc_core.results.atomic`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nc_core.results.atomic import write_text_atomic

from .stats import Estimate, Paired, verdict


def _pm(mean: float, std: float) -> str:
    if np.isnan(mean):
        return "n/a"
    return f"{mean:.2f}" if np.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def count(value: float) -> str:
    """A mean count (layers fixed over seeds): "3" when whole, else one decimal, "2.5"."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _cell(value) -> str:
    if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


INTEGER_COLUMNS = {"trainable_params_mean": "trainable params", "total_params_mean": "total params"}
DECIMAL_COLUMNS = {
    "params_reduction_pct": "params reduction (%)",
    "layers_fixed_mean": "layers fixed",
}


def markdown(table: pd.DataFrame) -> str:
    """Readable Markdown of a table: `x_mean` with `x_ci95` becomes a 'mean ± 95% CI' cell (the
    std stays in the CSV), the paired difference to the baseline is said with its CI and n
    (`stats.verdict`), parameter counts get thousands separators; columns keep the CSV's
    order."""
    if table.empty:
        return "_(no rows)_\n"
    shown: dict[str, list[str]] = {}
    for col in table.columns:
        if col.endswith(("_std", "_ci95")):
            continue
        if col.endswith("_acc_mean"):
            name = col.removesuffix("_mean")
            ci = table[f"{name}_ci95"] if f"{name}_ci95" in table else [np.nan] * len(table)
            shown[f"{name.replace('_', ' ')} (%, ± 95% CI)"] = [
                _pm(m, c) for m, c in zip(table[col], ci, strict=True)
            ]
        elif col == "test_acc_diff":
            ci = table.get("test_acc_diff_ci95", pd.Series(np.nan, index=table.index))
            n = table.get("n_pairs", pd.Series(0, index=table.index))
            base = table.get("method", pd.Series("", index=table.index)) == "baseline"
            shown["test − baseline (pp, paired by seed, 95% CI)"] = [
                "—" if b or np.isnan(m) else verdict(Paired(Estimate(m, c, int(k))), unit="")
                for m, c, k, b in zip(table[col], ci, n, base, strict=True)
            ]
        elif col == "n_pairs":
            continue  # in the paired difference's cell
        elif col == "seeds_missing":
            shown["incomplete"] = [str(v) if v and not pd.isna(v) else "—" for v in table[col]]
        elif col in INTEGER_COLUMNS:
            shown[INTEGER_COLUMNS[col]] = ["—" if np.isnan(v) else f"{v:,.0f}" for v in table[col]]
        elif col in DECIMAL_COLUMNS:
            fmt = count if col == "layers_fixed_mean" else (lambda v: f"{v:.1f}")
            shown[DECIMAL_COLUMNS[col]] = ["—" if np.isnan(v) else fmt(v) for v in table[col]]
        else:
            shown[col] = [_cell(v) for v in table[col]]
    header = "| " + " | ".join(shown) + " |"
    rule = "|" + "|".join("---" for _ in shown) + "|"
    body = ["| " + " | ".join(r) + " |" for r in zip(*shown.values(), strict=True)]
    return "\n".join([header, rule, *body]) + "\n"


def write_table(table: pd.DataFrame, out: Path, stem: str) -> tuple[Path, Path]:
    """`out/stem.csv` (plain numbers) and `out/stem.md`, each written atomically."""
    csv = write_text_atomic(Path(out) / f"{stem}.csv", table.to_csv(index=False))
    md = write_text_atomic(Path(out) / f"{stem}.md", markdown(table))
    return csv, md
