"""Tables, figures and REPORT.md from study results, or from one training run.

    python -m analysis.make_figures [--results results] [--study NAME ...] [--out figures]
                                    [--storage DIR] [--eps EPS] [--pdf]
    python -m analysis.make_figures --run run.parquet [--out DIR]

Studies: every `<results>/<name>/{epochs,layers}.parquet` found (or the `--study` names), each
analysed by what it is: the declaration stored in its study file (`analysis.loading.study_type`),
which says its title, method, arm keys and figure set (`analysis.figures.sets`). A run: the
`--out` table of `python -m nc_core.train` and the `.layers.parquet` beside it. Every input is
checked before anything is written; a bad one is one line naming it and exit status 2, with
nothing created or changed. Each output file is written atomically into `--out`.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from pathlib import Path

if not __package__:  # run as a file, `python analysis/make_figures.py`: import this folder as the
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # package `analysis`
    __package__ = "analysis"  # (installed, it is `nc_core.analysis`: nc_core/cli/main.py)

from nc_core.results.atomic import write_text_atomic
from nc_core.study.spec import NAME_FORM

from .figures.jobs import Drawn, Job, render
from .figures.kinds import controls as controls_figure
from .figures.sets import FIGURE_SETS
from .loading.load import Study, find_studies, load_all, load_run
from .loading.parquet_tables import ResultsSchemaError
from .report.build import build_report
from .report.paper_comparison import chosen_sentence
from .tables.arms import study_keys, study_table
from .tables.controls import controls
from .tables.kind_pairs import kind_differences, markdown_pairs, pairs_sentence
from .tables.markdown import write_table


class BadInput(Exception):
    """An argument that cannot work; the message names it and what is allowed."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        help="folder holding <study>/epochs.parquet and layers.parquet",
    )
    p.add_argument("--study", nargs="+", metavar="NAME", help="studies to analyse (default: all)")
    p.add_argument(
        "--storage",
        type=Path,
        help="the studies' Tune storage, to read their study files (default: <results>/ray)",
    )
    p.add_argument("--run", type=Path, help="one run's --out table (python -m nc_core.train)")
    p.add_argument("--out", type=Path, default=Path("figures"), help="output folder")
    p.add_argument(
        "--eps",
        type=float,
        help="NCC-error threshold of the effective depth and of the arms drawn per layer "
        "(default: 0.1 where it ran, else the sweep's middle eps; a run: its own eps)",
    )
    p.add_argument("--pdf", action="store_true", help="also write each figure as PDF")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Refuse arguments that cannot work, before reading or writing anything."""
    if args.eps is not None and not (math.isfinite(args.eps) and 0 < args.eps < 1):
        raise BadInput(f"--eps {args.eps}: expected a number in (0, 1), e.g. 0.1")
    if args.run is not None and args.study:
        raise BadInput("--run and --study: give one (a run's table, or studies of --results)")
    if args.run is not None and args.run.suffix != ".parquet":
        raise BadInput(f"--run {args.run}: expected the .parquet table written by --out")
    if args.run is None and not args.results.is_dir():
        raise BadInput(
            f"--results {args.results}: no such folder; run a study first (make study) or pass "
            "--results"
        )
    for name in args.study or ():  # a study's name is a folder of --results and a file prefix
        if not NAME_FORM.fullmatch(name):
            raise BadInput(
                f"--study {name!r}: expected a study's name (letters, digits, '_' and '-'), "
                "the name of a folder of --results"
            )
    if args.storage is not None and not args.storage.is_dir():
        why = "is a file" if args.storage.exists() else "no such folder"
        raise BadInput(
            f"--storage {args.storage}: {why}; expected the studies' Tune storage folder"
        )
    out = args.out
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: is a file; expected a folder for the figures")
    parent = next((p for p in [out, *out.parents] if p.exists()), Path("."))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadInput(f"--out {out}: {parent} is not writable; pass another --out")


def load(args: argparse.Namespace) -> dict[str, Study]:
    if args.run is not None:
        study = load_run(args.run)
        return {study.name: study}
    if not args.study and not find_studies(args.results):
        raise BadInput(
            f"--results {args.results}: no study found (no <name>/epochs.parquet); run one "
            "first (make study) or pass another --results"
        )
    return load_all(args.results, args.study, storage=args.storage)


def check_declared(studies: dict[str, Study]) -> None:
    """Refuse a study whose declaration cannot be drawn: a figure set that does not exist, or an
    arm key its tables lack."""
    for study in studies.values():
        if study.figure_set not in FIGURE_SETS:
            raise BadInput(
                f"study {study.name}: figure set {study.figure_set!r} ({study.kind_source}) is "
                f"not one of {{{','.join(FIGURE_SETS)}}}; declare one of them in its StudyType"
            )
        missing = [k for k in (study.type.arm_keys if study.type else ()) if k not in study.epochs]
        if missing:
            raise BadInput(
                f"study {study.name}: arm key(s) {missing} ({study.kind_source}) are not columns "
                "of its tables; declare RunConfig fields or model option columns"
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_args(args)
        studies = load(args)
        check_declared(studies)
    except (BadInput, ResultsSchemaError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for study in studies.values():
        print(f"{study.name}: {study.kind} ({study.kind_source})")
        for problem in study.problems:
            print(f"warning: {study.name}: {problem}")
    out, written = args.out, []

    tables, notes = {}, {}
    for name, study in studies.items():
        if study.type is None:  # plain runs: no arms to tabulate
            continue
        tables[name] = study_table(study)
        notes[name] = chosen_sentence(tables[name], study.type.method, study_keys(study))
        written += write_table(tables[name], out, f"{name}_table")

    figures: dict[str, list[Drawn]] = {}
    for name, study in studies.items():
        jobs = FIGURE_SETS[study.figure_set](study, args.eps)
        figures[name] = [render(job, out, args.pdf) for job in jobs]
    drawn_controls, pairs = [], None
    if args.run is None:
        table = controls(list(studies.values()))
        pairs = kind_differences(list(studies.values()))
        if len(pairs):
            written.append(write_text_atomic(out / "kind_pairs.csv", pairs.to_csv(index=False)))
            written.append(write_text_atomic(out / "kind_pairs.md", markdown_pairs(pairs)))
        if len(table):
            written += write_table(table, out, "controls")

            def draw_controls():
                fig, note = controls_figure(table)
                if len(pairs):
                    return fig, f"{note} The same arms compared, paired by seed: the table below."
                return fig, f"{note} {pairs_sentence(pairs)}"

            job = Job(
                "Every kind at equal layers fixed",
                "controls",
                "Final test accuracy against layers fixed for each kind, the ETF kinds beside "
                "the random-isometry and freeze-in-place controls, with each setup's baseline "
                "as a horizontal line (its 95% CI a band where it has 2 or more seeds), one "
                "panel per reading of the rule (mode); only cells where layers were fixed are "
                "drawn, a count alone as a marker.",
                draw_controls,
            )
            drawn_controls.append(render(job, out, args.pdf))
    for drawn in [d for ds in figures.values() for d in ds] + drawn_controls:
        if drawn.path is not None:
            written.append(drawn.path)

    source = str(args.run) if args.run is not None else str(args.results)
    given = sys.argv[1:] if argv is None else list(argv)
    text = build_report(
        source=source,
        command=shlex.join(["python", "analysis/make_figures.py", *given]),
        studies=studies,
        tables=tables,
        table_notes=notes,
        figures=figures,
        controls=drawn_controls,
        pairs=pairs,
    )
    report = write_text_atomic(out / "REPORT.md", text)
    print(written_summary(report, written))
    return 0


def written_summary(report: Path, written: list[Path]) -> str:
    """One line: where the report went, and how many figures and tables beside it."""
    figures = sum(p.suffix in (".png", ".pdf") for p in written)
    tables = sum(p.suffix in (".md", ".csv") for p in written)
    return (
        f"wrote {report}: the report, with {figures} figure files and {tables} table files "
        f"beside it in {report.parent}"
    )


if __name__ == "__main__":
    sys.exit(main())
