"""The command lines, generated from the dataclasses that declare them.

Every option is a dataclass field (`RunConfig`, `StudyOptions`): its type says how text is read
(`int`, `float`, `bool`, `X | None` where "none" gives None) and, when it is a `Literal`, which
values are allowed; `metadata["help"]` is its help. `add_fields` turns the fields into argparse
flags (`--batch-size`, `--batch-norm/--no-batch-norm`, `--model {mlp,vit}`), `parse_value`
reads one `FIELD=VALUE` of `--set` the same way, and `choices` gives a field's allowed values to
any other check. No choice list or default is written twice.

Errors are one line (`PROG: error: MESSAGE`, exit status 2): argparse's usage block is left to
`--help`, as the README's "Bad input" promises.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from typing import Literal, NoReturn

NONE_TEXT = ("none", "null")
TRUE_TEXT, FALSE_TEXT = ("true", "1", "yes"), ("false", "0", "no")


class Parser(argparse.ArgumentParser):
    """argparse.ArgumentParser with one-line errors (no usage block; `--help` shows it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def fail(prog: str, message) -> int:
    """Print the one-line error of `prog` and return exit status 2 (for `return fail(...)`)."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def _split(hint) -> tuple[object, bool]:
    """(the type without None, whether None is allowed) of a field's type hint."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def hints(cls) -> dict[str, object]:
    return typing.get_type_hints(cls)


def choices(cls, name: str) -> tuple | None:
    """The allowed values of field `name` when its type is a Literal (else None)."""
    base, _ = _split(hints(cls)[name])
    return typing.get_args(base) if typing.get_origin(base) is Literal else None


def parse_value(cls, name: str, text: str):
    """`text` read as field `name` of `cls`; ValueError naming the field and what is allowed."""
    base, optional = _split(hints(cls)[name])
    low = text.strip().lower()
    if optional and low in NONE_TEXT:
        return None
    if typing.get_origin(base) is Literal:
        allowed = typing.get_args(base)
        for value in allowed:
            if str(value) == text.strip():
                return value
        raise ValueError(f"{name}={text!r}: expected one of {{{','.join(map(str, allowed))}}}")
    if base is bool:
        if low not in TRUE_TEXT + FALSE_TEXT:
            raise ValueError(f"{name}={text!r}: expected true or false")
        return low in TRUE_TEXT
    if base in (int, float):
        try:
            return base(text)
        except ValueError:
            raise ValueError(f"{name}={text!r}: expected {base.__name__}") from None
    return text


def _reader(cls, name: str):
    base, optional = _split(hints(cls)[name])

    def read(text: str):
        try:
            return parse_value(cls, name, text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).partition(": ")[2]) from None

    read.__name__ = getattr(base, "__name__", "value")  # argparse names the type in errors
    return read


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_fields(
    parser: argparse.ArgumentParser,
    cls,
    *,
    skip: tuple[str, ...] = (),
    default_from: str | None = None,
) -> None:
    """One flag per field of `cls` (but `skip`), its help from the field's metadata, its
    choices from its Literal type, its default shown once. With `default_from` (e.g.
    "--preset"), every flag defaults to None, so only the values given on the command line
    override what that option chooses; the help says so and names the field's own default."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        base, optional = _split(hints(cls)[f.name])
        allowed = choices(cls, f.name)
        shown = "none" if f.default is None else f.default
        where = f"{default_from}'s, else {shown}" if default_from else shown
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


def given(args: argparse.Namespace, cls, *, skip: tuple[str, ...] = ()) -> dict:
    """The fields of `cls` that `args` set (those not None)."""
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if f.name not in skip and getattr(args, f.name, None) is not None
    }


def check_choices(obj) -> None:
    """Raise ValueError naming the first Literal-typed field of `obj` outside its choices."""
    cls = type(obj)
    for f in dataclasses.fields(cls):
        allowed = choices(cls, f.name)
        value = getattr(obj, f.name)
        if allowed is not None and value not in allowed and value is not None:
            raise ValueError(
                f"{cls.__name__}.{f.name}={value!r}: expected one of "
                f"{{{','.join(map(str, allowed))}}}"
            )
