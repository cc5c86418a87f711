"""Tables, figures and REPORT.md from the study results.

    python analysis/make_figures.py [--results results] [--out figures] [--preset quick] [--pdf]

Reads `<results>/<study>/{epochs,layers}.parquet` for eps_sweep, depth_width and vit_blocks
(`<study>-<preset>` with --preset, the studies' default names; a missing study is skipped, and
the report says so), checks every table's columns before writing anything, and writes Tables 1-3
(Markdown + CSV), Figures 1-5 (PNG, PDF with --pdf) and REPORT.md into `<out>`, each file
atomically. Exit code 2: an unreadable or wrong-schema results file (the message names it and
the missing columns) or no results folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # run as a file, `python analysis/make_figures.py`: import this folder as the
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # package `analysis`
    __package__ = "analysis"  # (installed, it is `nc_core.analysis`: nc_core/commands.py)

from . import style
from .atomic import save_figure_atomic, write_text_atomic
from .fig_layers import ncc_heatmap, ncc_per_layer
from .fig_tradeoffs import etf_vs_freeze, freeze_gap_sentence, pareto
from .fig_training import training_curves
from .load import STUDIES, ResultsSchemaError, load_all
from .report import Drawn, best_sentence, build_report
from .tables import TABLE1_KEYS, TABLE2_KEYS, table1_mlp, table2_vit, write_table
from .tables import etf_vs_freeze as table3
from .trials import final_rows, with_arm


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        help="folder holding <study>/epochs.parquet and layers.parquet",
    )
    p.add_argument("--out", type=Path, default=Path("figures"), help="output folder")
    p.add_argument("--pdf", action="store_true", help="also write each figure as PDF")
    p.add_argument(
        "--preset",
        choices=("smoke", "quick", "paper"),
        help="read the studies of this preset (<study>-PRESET, their default names); "
        "without it, folders named <study>",
    )
    p.add_argument(
        "--study",
        action="append",
        default=[],
        metavar="STUDY=NAME",
        help="read STUDY (eps_sweep, depth_width, vit_blocks) from RESULTS/NAME (repeatable)",
    )
    args = p.parse_args(argv)
    args.folders = {s: f"{s}-{args.preset}" for s in STUDIES} if args.preset else {}
    for item in args.study:
        study, sep, name = item.partition("=")
        if not sep or study not in STUDIES or not name:
            p.error(f"--study {item!r}: expected STUDY=NAME with STUDY one of {STUDIES}")
        args.folders[study] = name
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.results.is_dir():
        print(
            f"error: results folder {args.results} does not exist; run a study first "
            "(make study) or pass --results",
            file=sys.stderr,
        )
        return 2
    try:
        studies = load_all(args.results, folders=args.folders)
    except ResultsSchemaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, study in studies.items():
        if study is None:
            folder = args.folders.get(name, name)
            print(f"skip {name}: no {args.results / folder / 'epochs.parquet'}")
    present = [s for s in studies.values() if s is not None]
    out = args.out
    written: list[Path] = []

    tables, notes = {}, {}
    mlp, vit = studies["eps_sweep"], studies["vit_blocks"]
    if mlp is not None:
        tables["table1_mlp"] = table1_mlp(mlp)
        notes["table1_mlp"] = best_sentence(tables["table1_mlp"], "Adaptive-ETF", TABLE1_KEYS)
    if vit is not None:
        tables["table2_vit"] = table2_vit(vit)
        notes["table2_vit"] = best_sentence(tables["table2_vit"], "ETF-Transformer", TABLE2_KEYS)
    kinds = table3(present)
    if len(kinds):
        tables["table3_etf_vs_freeze"] = kinds
        notes["table3_etf_vs_freeze"] = freeze_gap_sentence(kinds)
    else:
        notes["table3_etf_vs_freeze"] = "no study with ETF or freeze trials"
    for stem, table in tables.items():
        written += write_table(table, out, stem)

    ok_trials = {}
    for s in present:
        final = with_arm(final_rows(s.epochs))
        ok_trials[s.name] = final[final["status"] == "ok"]
    plan = [
        (
            "Figure 1: NCC accuracy per layer and effective depth",
            "fig1_ncc_per_layer",
            "depth_width",
            ncc_per_layer,
        ),
        (
            "Figure 2: accuracy and trainable parameters per epoch",
            "fig2_training",
            "eps_sweep",
            training_curves,
        ),
        (
            "Figure 3: train NCC accuracy, layer x epoch",
            "fig3_ncc_heatmap",
            "eps_sweep",
            ncc_heatmap,
        ),
        (
            "Figure 4: test accuracy against trainable parameters",
            "fig4_pareto",
            "eps_sweep",
            pareto,
        ),
    ]
    figures = []
    for title, stem, needs, draw in plan:
        figures.append(
            render(
                title,
                stem,
                out,
                args.pdf,
                studies[needs] is not None,
                f"study {needs} is missing",
                lambda d=draw, n=needs: d(studies[n]),
            )
        )
    figures.append(
        render(
            "Figure 5: ETF against freeze-in-place at equal layers fixed",
            "fig5_etf_vs_freeze",
            out,
            args.pdf,
            len(kinds) > 0,
            notes.get("table3_etf_vs_freeze", ""),
            lambda: etf_vs_freeze(kinds, ok_trials),
        )
    )
    written += [f.path for f in figures if f.path is not None]

    text = build_report(
        results=args.results, studies=studies, tables=tables, table_notes=notes, figures=figures
    )
    written.append(write_text_atomic(out / "REPORT.md", text))
    for path in written:
        print(f"wrote {path}")
    return 0


def render(
    title: str, stem: str, out: Path, pdf: bool, available: bool, why_not: str, draw
) -> Drawn:
    """Draw one figure and save it, or record (and print) why it was skipped."""
    if not available:
        print(f"skip {stem}: {why_not}")
        return Drawn(title, None, why_not)
    try:
        fig, note = draw()
    except style.NothingToDraw as reason:
        print(f"skip {stem}: {reason}")
        return Drawn(title, None, str(reason))
    return Drawn(title, save_figure_atomic(fig, out, stem, pdf=pdf), note)


if __name__ == "__main__":
    sys.exit(main())
