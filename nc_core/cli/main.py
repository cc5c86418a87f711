"""The console scripts and `python -m nc_core`: `nc-train`, `nc-study NAME`, `nc-figures`.

`studies/` and `analysis/` are folders of the repository, not top-level packages: an installed
nc-core ships them as `nc_core.studies` and `nc_core.analysis` (pyproject.toml's package-dir), so
no generic name like `analysis` is taken in site-packages. In a checkout run without installing
(the repository on sys.path), the same code is imported from the folders themselves.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

STUDIES = ("eps_sweep", "depth_width", "vit_blocks")
USAGE = f"""usage: python -m nc_core {{train,study,figures}} ...

  train [OPTIONS]          one training run (nc-train; python -m nc_core.train)
  study NAME [OPTIONS]     a study on Ray Tune, NAME one of {", ".join(STUDIES)} (nc-study)
  figures [OPTIONS]        tables, figures and REPORT.md from the results (nc-figures)

Each command's --help lists its options."""


def load(folder: str, module: str) -> ModuleType:
    """`nc_core.<folder>.<module>` when installed, else `<folder>.<module>` from a checkout."""
    try:
        return importlib.import_module(f"nc_core.{folder}.{module}")
    except ModuleNotFoundError as err:
        if err.name != f"nc_core.{folder}":
            raise
        return importlib.import_module(f"{folder}.{module}")


def train(argv: list[str] | None = None) -> int:
    from nc_core.cli.train import main

    return main(argv)


def study(argv: list[str] | None = None) -> int:
    """`nc-study NAME [OPTIONS]`: run `studies/NAME.py` with OPTIONS."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in STUDIES:
        asked = bool(argv) and argv[0] in ("-h", "--help")
        print(
            f"usage: nc-study {{{','.join(STUDIES)}}} [OPTIONS]  (nc-study NAME --help: options)",
            file=sys.stdout if asked else sys.stderr,
        )
        if argv and not asked:
            print(f"nc-study: error: no study {argv[0]!r}", file=sys.stderr)
        return 0 if asked else 2
    module = load("studies", argv[0])
    sys.argv[0] = f"nc-study {argv[0]}"  # the study's --help and errors name the command
    module.main(argv[1:])
    return 0


def figures(argv: list[str] | None = None) -> int:
    """`nc-figures [OPTIONS]`: `analysis/make_figures.py`."""
    module = load("analysis", "make_figures")
    sys.argv[0] = "nc-figures"
    return module.main(argv)


def main(argv: list[str] | None = None) -> int:
    """`python -m nc_core {train,study,figures} ...`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"train": train, "study": study, "figures": figures}
    if not argv or argv[0] not in commands:
        asked = bool(argv) and argv[0] in ("-h", "--help")
        print(USAGE, file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    return commands[argv[0]](argv[1:])
