"""The console scripts and `python -m nc_core`: `nc-train`, `nc-study NAME`, `nc-figures`.

`studies/` and `analysis/` are folders of the repository, not top-level packages: an installed
nc-core ships them as `nc_core.studies` and `nc_core.analysis` (pyproject.toml's package-dir), so
no generic name like `analysis` is taken in site-packages. In a checkout run without installing
(the repository on sys.path), the same code is imported from the folders themselves. A study is
found by name (`nc_core.study.registry`): the files of the studies folder, and any study that a
module named in `NC_PLUGINS` declares.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

USAGE = """usage: python -m nc_core {{train,study,figures}} ...

  train [OPTIONS]          one training run (nc-train; python -m nc_core.train)
  study NAME [OPTIONS]     a study on Ray Tune, NAME one of {studies} (nc-study)
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


def _study_names() -> tuple[str, ...]:
    from nc_core.registry import load_plugins
    from nc_core.study.registry import study_names

    load_plugins()
    return study_names()


def train(argv: list[str] | None = None) -> int:
    """`nc-train [OPTIONS]`: one training run (`nc_core.cli.train`)."""
    from nc_core.cli.train import main

    return main(argv)


def study(argv: list[str] | None = None) -> int:
    """`nc-study NAME [OPTIONS]`: run the study NAME (`studies/NAME.py`) with OPTIONS."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        names = _study_names()
    except ValueError as err:  # a module named in NC_PLUGINS that cannot be imported
        print(f"nc-study: error: {err}", file=sys.stderr)
        return 2
    if not argv or argv[0] not in names:
        if argv and argv[0] in ("-h", "--help"):
            listed = ",".join(names)
            print(f"usage: nc-study {{{listed}}} [OPTIONS]  (nc-study NAME --help: options)")
            return 0
        what = f"no study {argv[0]!r}" if argv else "give a study"
        print(
            f"nc-study: error: {what}; expected one of {', '.join(names)} "
            "(nc-study NAME --help lists its options)",
            file=sys.stderr,
        )
        return 2
    from nc_core.cli.study import study_main
    from nc_core.study.registry import get_study

    entry = get_study(argv[0])
    sys.argv[0] = f"nc-study {argv[0]}"  # the study's --help and errors name the command
    return study_main(entry, argv[1:])


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
        if argv and argv[0] in ("-h", "--help"):
            from nc_core.study.registry import builtin_names

            print(USAGE.format(studies=", ".join(builtin_names())))
            return 0
        what = f"no command {argv[0]!r}" if argv else "give a command"
        print(
            f"python -m nc_core: error: {what}; expected one of {', '.join(commands)} "
            "(python -m nc_core --help describes them)",
            file=sys.stderr,
        )
        return 2
    return commands[argv[0]](argv[1:])
