"""The command lines, generated from the dataclasses that declare them (`nc_core.fields`).

`add_fields` turns each field of a dataclass into an argparse flag (`--batch-size`,
`--batch-norm/--no-batch-norm`, `--model {mlp,vit,cnn}`), its help from the field's metadata,
its choices from its type or registry; `given` reads back the ones set. `add_model_options`
adds one flag per option of any registered model (`--width`, `--dim`; each also as
`--<model>-<option>`, e.g. `--vit-dim`), and `model_options` reads those given against the
run's model. No choice list or default is written twice.

Errors are one line (`PROG: error: MESSAGE`, exit status 2): argparse's usage block is left to
`--help`. Abbreviated flags are refused (`--epoch` is not `--epochs`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, NoReturn

from nc_core.fields import choices, hints, parse_value, split_optional
from nc_core.models import MODELS, get_model
from nc_core.train.config import RUN_FIELDS, RunConfig
from nc_core.train.keys import LEGACY_KEYS, unknown_key

ARCH_DEST = "arch__"  # argparse dest prefix of the model options' flags


class Parser(argparse.ArgumentParser):
    """argparse.ArgumentParser with one-line errors (no usage block; `--help` shows it) and no
    abbreviated flags."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Exit with status 2 after the one-line error `PROG: error: message`."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def fail(prog: str, message: object) -> int:
    """Print the one-line error of `prog` and return exit status 2 (for `return fail(...)`)."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def _reader(cls: type, name: str):
    base, _ = split_optional(hints(cls)[name])

    def read(text: str):
        try:
            return parse_value(cls, name, text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{text!r}: {str(err).partition(': ')[2]}") from None

    read.__name__ = getattr(base, "__name__", "value")  # argparse names the type in errors
    return read


def flag(name: str) -> str:
    """The command-line flag of field `name`: `batch_size` -> `--batch-size`."""
    return "--" + name.replace("_", "-")


def add_fields(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    skip: tuple[str, ...] = (),
    default_from: str | None = None,
    chosen: dict[str, Any] | None = None,
) -> None:
    """One flag per field of dataclass `cls` (but `skip`), its help from the field's metadata,
    its choices from its Literal type or registry, its default shown once. `chosen`: the values
    that `default_from` sets (a preset's), shown as the defaults in --help. With `default_from`
    (e.g. "--preset"), every flag defaults to None, so only the values given on the command line
    override what that option chooses; the help says so and names the field's own default."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        base, optional = split_optional(hints(cls)[f.name])
        allowed = choices(cls, f.name)
        shown = "none" if f.default is None else f.default
        where = f"{default_from}'s, else {shown}" if default_from else shown
        if chosen is not None and default_from:
            value = chosen.get(f.name, f.default)
            where = f"{'none' if value is None else value}, from {default_from}"
        text = f"{f.metadata.get('help', '')} (default: {where})".strip()
        kwargs = dict(dest=f.name, default=None if default_from else f.default, help=text)
        if base is bool:
            # default None here, then set_defaults: some Pythons append "(default: ...)" to a
            # BooleanOptionalAction's help by themselves, which would show the default twice.
            default = kwargs.pop("default")
            parser.add_argument(
                flag(f.name), action=argparse.BooleanOptionalAction, default=None, **kwargs
            )
            parser.set_defaults(**{f.name: default})
            continue
        if allowed is not None:
            kwargs["metavar"] = "{" + ",".join(map(str, allowed)) + "}" + ("|none" * optional)
        parser.add_argument(flag(f.name), type=_reader(cls, f.name), **kwargs)


def given(args: argparse.Namespace, cls: type, *, skip: tuple[str, ...] = ()) -> dict:
    """The fields of dataclass `cls` that `args` set (those not None)."""
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if f.name not in skip and getattr(args, f.name, None) is not None
    }


def _option_fields() -> dict[str, list[tuple[str, dataclasses.Field]]]:
    """Option name -> [(model, field)] over every registered model."""
    out: dict[str, list[tuple[str, dataclasses.Field]]] = {}
    for model in MODELS:
        for f in dataclasses.fields(get_model(model).options):
            out.setdefault(f.name, []).append((model, f))
    return out


def _is_bool(model: str, name: str) -> bool:
    return split_optional(hints(get_model(model).options)[name])[0] is bool


def add_model_options(
    parser: argparse.ArgumentParser, *, taken: set[str], chosen: dict[str, Any] | None = None
) -> None:
    """A flag per option of any registered model, read against the run's model later
    (`model_options`): `--width` (mlp: ..., cnn: ...), and `--<model>-<option>` for one model
    (hidden from --help). `taken`: the parser's other field names, which options never shadow;
    `chosen`: flat values (`mlp_width`) a preset sets, shown as the defaults."""
    chosen = chosen or {}
    seen = set(taken)
    for name, owners in _option_fields().items():
        if name in taken:
            continue
        helps = "; ".join(
            f"{m}: {f.metadata.get('help', name)} (default {chosen.get(f'{m}_{name}', f.default)})"
            for m, f in owners
        )
        is_bool = _is_bool(owners[0][0], name)
        _add_option(parser, flag(name), f"{ARCH_DEST}{name}", is_bool, helps)
        seen.add(name)
    for name, owners in _option_fields().items():
        for model, _ in owners:
            scoped = f"{model}_{name}"
            if scoped in seen:
                continue
            dest = f"{ARCH_DEST}{model}__{name}"
            _add_option(parser, flag(scoped), dest, _is_bool(model, name), argparse.SUPPRESS)
            seen.add(scoped)


def _add_option(parser, text: str, dest: str, is_bool: bool, help: str) -> None:
    if is_bool:
        parser.add_argument(
            text, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help
        )
    else:
        parser.add_argument(text, dest=dest, default=None, metavar="VALUE", help=help)


def model_options(args: argparse.Namespace, model: str) -> dict[str, Any]:
    """The options of `model` given on the command line, read as their types; ValueError
    naming the flag for an option `model` does not have."""
    entry = get_model(model)
    names = entry.option_names()
    out: dict[str, Any] = {}
    for dest, value in vars(args).items():
        if not dest.startswith(ARCH_DEST) or value is None:
            continue
        owner, _, name = dest[len(ARCH_DEST) :].rpartition("__")
        shown = flag(f"{owner}_{name}" if owner else name)
        if owner and owner != model:
            raise ValueError(
                f"{shown}: an option of model {owner!r}; this run's model is {model!r}"
            )
        if name not in names:
            raise ValueError(
                f"{shown}: model {model!r} has no option {name!r} (its options: "
                f"{', '.join(flag(n) for n in names)})"
            )
        if isinstance(value, bool):
            out[name] = value
            continue
        try:
            out[name] = parse_value(entry.options, name, value)
        except ValueError as err:
            raise ValueError(f"{shown} {value}: {str(err).partition(': ')[2]}") from None
    return out


def parse_setting(model: str, key: str, text: str) -> tuple[str, Any]:
    """One `--set KEY=VALUE` read for a run of `model`: (flat key, typed value). KEY is a run
    field, an option of `model` (short or `<model>_<option>`), or a 0.1 name; ValueError names
    KEY and what is allowed, suggesting the closest names."""
    key = key if key in RUN_FIELDS else LEGACY_KEYS.get(key, key)
    if key in RUN_FIELDS and key != "arch":
        return key, parse_value(RunConfig, key, text)
    entry = get_model(model)
    short = key[len(model) + 1 :] if key.startswith(f"{model}_") else key
    if short in entry.option_names():
        return f"{model}_{short}", parse_value(entry.options, short, text)
    raise ValueError(unknown_key(key, model, RUN_FIELDS))
