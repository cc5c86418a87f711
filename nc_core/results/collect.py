"""`python -m nc_core.collect`: many single-run tables into one study's tables, without Ray.

For runs made one by one (`python -m nc_core.train --out DIR/NAME.parquet`, e.g. as Slurm array
jobs): reads each run's epoch table and the `NAME.layers.parquet` beside it, fills `study` with
the study name and `trial_id` with the file's stem, and writes `OUT/epochs.parquet` and
`OUT/layers.parquet`, the layout `analysis/` reads (`analysis.load.load_study`):

    python -m nc_core.collect --study my_runs --out results/my_runs 'runs/*.parquet'

Inputs are paths or quoted globs (`*.layers.parquet` matches are skipped: each is read beside
its epoch table). Every input is read and checked before anything is written: a missing layers
table, a repeated stem, or a table whose columns differ from the first one's is one line on
stderr and exit status 2. Existing outputs are kept unless `--force`.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

import pandas as pd

from nc_core.results.atomic import check_writable
from nc_core.results.pair import write_pair
from nc_core.results.records import (
    COUNT_COLUMNS,
    EPOCH_COLUMNS,
    LATER_EPOCH_COLUMNS,
    LATER_LAYER_COLUMNS,
    model_option_columns,
    upgrade_table,
)
from nc_core.study.spec import MAX_NAME, NAME_FORM

LAYERS_SUFFIX = ".layers.parquet"


class _Parser(argparse.ArgumentParser):
    """argparse with the one-line errors of every nc-core command (`nc_core.cli.args.Parser`;
    this library module imports no command line)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


class CollectError(ValueError):
    """An input set that cannot become one study table (the message says which file and why)."""


def expand(patterns: list[str]) -> list[Path]:
    """Epoch-table paths from paths and globs, in the order given (each glob sorted)."""
    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise CollectError(f"{pattern}: matches no file")
        paths += [Path(m) for m in matches if not m.endswith(LAYERS_SUFFIX)]
    if not paths:
        raise CollectError(f"{patterns}: no epoch tables (only {LAYERS_SUFFIX} files)")
    return paths


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise CollectError(f"{path}: no such file")
    try:
        return pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a corrupt or foreign file
        raise CollectError(f"{path}: cannot be read as Parquet ({type(err).__name__})") from err


def _same_columns(df: pd.DataFrame, path: Path, first: pd.DataFrame, first_path: Path) -> None:
    """Refuse tables whose columns differ, but for the model options (runs of different models
    carry different `<model>_<option>` columns; the study table has nulls where they differ)."""
    options = set(model_option_columns())
    ours = [c for c in df.columns if c not in options]
    theirs = [c for c in first.columns if c not in options]
    if set(ours) != set(theirs):  # the same columns; their order may differ
        missing = [c for c in theirs if c not in ours]
        extra = [c for c in ours if c not in theirs]
        raise CollectError(
            f"{path}: columns differ from {first_path} (missing {missing}, extra {extra}); "
            "collect tables written by one nc_core version"
        )


def collect(paths: list[Path], study: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(epochs, layers) of all runs in `paths`, `study` and `trial_id` (the stem) filled."""
    stems: dict[str, Path] = {}
    epochs, layers = [], []
    for path in paths:
        if path.suffix != ".parquet":
            raise CollectError(f"{path}: expected a .parquet epoch table")
        if path.stem in stems:
            raise CollectError(
                f"{path}: trial_id {path.stem!r} already taken by {stems[path.stem]}; "
                "give each run a distinct --out name"
            )
        stems[path.stem] = path
        layers_path = path.with_suffix(LAYERS_SUFFIX)
        ep, ly = upgrade_table(_read(path)), upgrade_table(_read(layers_path))
        for df, later in ((ep, LATER_EPOCH_COLUMNS), (ly, LATER_LAYER_COLUMNS)):
            for name, value in later.items():  # a table written before they were
                if name not in df.columns:
                    df[name] = value
        ly[COUNT_COLUMNS] = ly[COUNT_COLUMNS].astype("Int64")
        missing = [c for c in EPOCH_COLUMNS if c not in ep.columns]
        if missing:
            raise CollectError(f"{path}: not an nc_core epoch table (missing {missing})")
        if epochs:
            _same_columns(ep, path, epochs[0], paths[0])
            _same_columns(ly, layers_path, layers[0], paths[0].with_suffix(LAYERS_SUFFIX))
        for df in (ep, ly):
            df["study"], df["trial_id"], df["trial_name"] = study, path.stem, path.stem
        epochs.append(ep)
        layers.append(ly)
    return pd.concat(epochs, ignore_index=True), pd.concat(layers, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    """Run `python -m nc_core.collect` on `argv` (default: sys.argv[1:]); return the exit
    status: 0 when both tables were written, 2 on bad input."""
    p = _Parser(prog="python -m nc_core.collect", description=__doc__, allow_abbrev=False)
    p.add_argument("tables", nargs="+", help="epoch tables (.parquet) or quoted globs")
    p.add_argument("--study", required=True, help="study name written to the `study` column")
    p.add_argument("--out", type=Path, default=None, help="output folder (default results/STUDY)")
    p.add_argument("--force", action="store_true", help="replace existing output tables")
    args = p.parse_args(argv)
    out = args.out if args.out is not None else Path("results") / args.study
    targets = (out / "epochs.parquet", out / "layers.parquet")
    try:
        if not NAME_FORM.fullmatch(args.study):  # it names the output folder, inside results/
            raise CollectError(
                f"--study {args.study!r}: use 1 to {MAX_NAME} ASCII letters, digits, '_' and '-'"
            )
        for target in targets:
            try:
                check_writable(target, flag="--out")
            except ValueError as err:
                raise CollectError(str(err)) from None
        existing = [str(t) for t in targets if t.exists()]
        if existing and not args.force:
            raise CollectError(f"{existing[0]} exists; pass --force to replace it")
        epochs, layers = collect(expand(args.tables), args.study)
    except CollectError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_pair(epochs, layers, *targets)  # both or neither, one generation stamp
    trials = epochs["trial_id"].nunique()
    print(f"wrote {targets[0]} ({len(epochs)} rows, {trials} trials) and {targets[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
