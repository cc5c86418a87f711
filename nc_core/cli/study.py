"""The command line every study script shares: its parser, the shared options, and the
`StudySpec` base config and `StudyOptions` they give (README: "Running studies"). No Ray here.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Iterable

import pandas as pd

from nc_core.cli.args import Parser, add_fields, given, parse_setting
from nc_core.fields import choices
from nc_core.registry import load_plugins
from nc_core.study.checks import StudyRefused, check_study, stored_spec
from nc_core.study.lock import StudyLocked
from nc_core.study.registry import StudyEntry
from nc_core.study.spec import StudyOptions, StudySpec
from nc_core.train.config import RunConfig
from nc_core.train.presets import PRESETS, preset, preset_values


def study_parser(doc: str) -> Parser:
    """A study script's parser (one-line errors), described by its docstring's first paragraph."""
    return Parser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )


def chosen_preset(argv: list[str]) -> str:
    """The --preset a command line names (default quick), read before parsing so that --help
    can show what that preset runs."""
    for i, word in enumerate(argv):
        if word == "--preset" and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith("--preset="):
            return word.split("=", 1)[1]
    return "quick"


def preset_epilog(name: str) -> str:
    """What `--preset name` sets, for the end of --help (empty for an unknown name)."""
    try:
        values = preset_values(name)
    except ValueError:
        return ""
    shown = ", ".join(f"{k}={v}" for k, v in values.items() if k != "arch")
    return (
        f"The preset {name} sets {shown}; every other field keeps its RunConfig default "
        "(python -m nc_core.train --preset NAME --help lists them all). --set FIELD=VALUE "
        "overrides one."
    )


def add_study_args(
    parser: argparse.ArgumentParser,
    *,
    name: str,
    seeds: dict[str, tuple[int, ...]] | None = None,
    preset_name: str = "quick",
) -> None:
    """The options every study shares (README: "Running studies"): what the study is (preset,
    seeds, name, dataset, --set), then every `StudyOptions` field but the sampler seed. `seeds`:
    the study's default per preset, shown in --help for `preset_name`."""
    a = parser.add_argument
    a(
        "--preset",
        choices=("smoke", "quick", "paper"),
        default="quick",
        help="smoke: < 2 min on 2 CPUs (CI); quick: about an hour on a CPU; paper: GPUs "
        "(default: quick)",
    )
    default = (seeds or {}).get(preset_name)
    shown = f"--preset {preset_name}: {' '.join(map(str, default))}" if default else "per preset"
    a("--seeds", type=int, nargs="+", help=f"seeds to run (default with {shown})")
    a(
        "--name",
        help=f"study name: the Tune experiment and results/<name>/ (default: {name}-PRESET)",
    )
    a("--model", choices=choices(RunConfig, "model"), help="override the preset's network")
    a("--dataset", choices=choices(RunConfig, "dataset"), help="override the preset's dataset")
    a(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override any RunConfig field of the preset, e.g. --set epochs=10 (repeatable)",
    )
    a(
        "--print-name",
        action="store_true",
        help="print the study's name (after checking the options) and exit; nothing is run",
    )
    add_fields(parser, StudyOptions, skip=("seed",))


def distinct(option: str, values: Iterable[object]) -> tuple:
    """`values` of a list option as a tuple; ValueError naming `option` when a value is given
    twice (two identical trials only repeat each other, and their spread of 0 is no interval)."""
    values = tuple(values)
    twice = sorted({v for v in values if values.count(v) > 1}, key=values.index)
    if twice:
        shown = " ".join(str(v) for v in values)
        raise ValueError(
            f"{option} {shown}: {', '.join(map(str, twice))} given more than once; give each "
            "value once (a repeated value runs an identical trial)"
        )
    return values


def given_options(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations of the options `argv` sets (not left at their defaults): argparse
    fills in a default only where the namespace it is handed lacks the attribute, and an
    appending option copies the list it finds there before adding to it."""
    unset = {a.dest: [] for a in parser._actions}  # noqa: SLF001 (a distinct object each)
    probe = argparse.Namespace(**unset)
    parser.parse_args(argv, namespace=probe)
    return {dest for dest, value in vars(probe).items() if value is not unset.get(dest)}


def study_name(
    args: argparse.Namespace,
    stem: str,
    variant: Iterable[tuple[Iterable[object], Iterable[object]]] = (),
) -> str:
    """`--name`, else `stem-PRESET` (`my_sweep-smoke`): each preset is its own study, so
    running one size never collides with a study of another. Seeds other than the study's
    default for the preset (`args.default_seeds`, set by `study_main`), and each (values,
    default) pair of `variant` whose values differ, add a part: `my_sweep-quick-seeds0_1_2`,
    `my_sweep-quick-canonical_rotated`. So asking for more seeds or fewer kinds is a study of
    its own, under the same name from `make`, the script and `nc-study`."""
    if args.name is not None:
        return args.name
    parts = [f"{stem}-{args.preset}"]
    default_seeds = getattr(args, "default_seeds", None)
    if default_seeds is not None and tuple(args.seeds) != tuple(default_seeds):
        parts.append("seeds" + "_".join(str(s) for s in args.seeds))
    for values, default in variant:
        if tuple(values) != tuple(default):
            parts.append("_".join(str(v) for v in values))
    return "-".join(parts)


def options_from_args(args: argparse.Namespace, *, seed: int = 0) -> StudyOptions:
    """The StudyOptions of parsed arguments (`seed`: the search's sampler seed)."""
    return StudyOptions(**given(args, StudyOptions, skip=("seed",)), seed=seed)


def checked_study(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    build_spec: Callable[[argparse.Namespace], StudySpec],
    *,
    seed: int = 0,
) -> tuple[StudySpec, StudyOptions]:
    """The script's `build_spec(args)` and its options, checked (`check_study`): bad input is the
    parser's one-line error (exit 2) before any work."""
    try:
        spec, opts = build_spec(args), options_from_args(args, seed=seed)
        check_study(spec, opts)
    except ValueError as err:
        parser.error(str(err))
    return spec, opts


def print_wide(*parts: str | pd.DataFrame) -> None:
    """Print lines and tables (without index) at a terminal's width for a study's summary."""
    with pd.option_context("display.width", 120, "display.max_rows", 200):
        for part in parts:
            print(part.to_string(index=False) if isinstance(part, pd.DataFrame) else part)


def study_main(entry: StudyEntry, argv: list[str] | None = None) -> int:
    """Run the declared study `entry` from a command line (`python studies/NAME.py`, `nc-study
    NAME`): the shared options and its own, `--seeds` defaulting to the entry's per preset (the
    first also seeds a search's sampler), its spec checked before any work (bad input: one
    line, exit 2), then Tune, then its summary. Returns the exit status of the result."""
    parser = study_parser(entry.doc)
    try:  # models and datasets of other modules, before their names become choices
        load_plugins()
    except ValueError as err:
        parser.error(str(err))
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = chosen_preset(argv)
    add_study_args(parser, name=entry.name, seeds=dict(entry.seeds), preset_name=chosen)
    parser.epilog = preset_epilog(entry.preset_prefix + chosen)
    if entry.options is not None:
        entry.options(parser)
    args = parser.parse_args(argv)
    # An export takes its settings from the stored study: options that say what the study is
    # are compared with it (check_study), and with none given the stored study is the spec.
    asked = given_options(parser, argv) - set(StudyOptions.__dataclass_fields__)
    asked -= {"name", "print_name"}
    if not args.seeds and args.preset not in entry.seeds:
        parser.error(f"--preset {args.preset}: {entry.name} has no default seeds; give --seeds")
    args.default_seeds = entry.seeds.get(args.preset)
    args.seeds = tuple(args.seeds or args.default_seeds)

    def build(parsed: argparse.Namespace) -> StudySpec:
        if parsed.export_only and not asked:
            return stored_spec(study_name(parsed, entry.name), options_from_args(parsed))
        distinct("--seeds", parsed.seeds)
        return dataclasses.replace(entry.build(parsed), study_type=entry.type)

    spec, opts = checked_study(parser, args, build, seed=args.seeds[0])
    if args.print_name:
        print(spec.name)
        return 0
    from nc_core.tune.run import run_study  # Ray only once a study runs: its file reads without

    try:
        result = run_study(spec, opts)
    except (StudyRefused, StudyLocked) as err:  # found once the study's lock was taken
        parser.error(str(err))
    if not result.epochs.empty:
        print_wide(*entry.summary_parts(args, spec, result))
    return result.exit_code


def base_config(args: argparse.Namespace, *, prefix: str = "", **study_fields: object) -> RunConfig:
    """The preset `prefix + args.preset` with the study's fields, then --dataset and --set
    (`--set FIELD=VALUE`: a run field or an option of the run's model, `--set width=64`)."""
    name = prefix + args.preset
    if name not in PRESETS:
        raise ValueError(f"--preset {args.preset!r}: no preset {name!r}")
    overrides = dict(study_fields)
    if getattr(args, "model", None):
        overrides["model"] = args.model
    if args.dataset:
        overrides["dataset"] = args.dataset
    settings = []
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE, e.g. --set epochs=10")
        settings.append((key.strip(), text))
    model_text = dict(settings).get("model")
    model = model_text or overrides.get("model") or preset_values(name)["model"]
    for key, text in settings:
        try:
            flat, value = parse_setting(model, key, text)
        except ValueError as err:
            raise ValueError(f"--set {key}={text}: {str(err).partition(': ')[2]}") from None
        overrides[flat] = value
    return preset(name, **overrides)
