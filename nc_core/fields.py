"""Dataclass fields as the one declaration of every option: how text is read, what is allowed.

Every option of the project is a field of a frozen dataclass (`RunConfig`, a model's options,
`StudyOptions`). Its type says how text is read (`int`, `float`, `bool`, `X | None` where "none"
gives None); its allowed values come from a `Literal` type, or from `metadata["choices"]` (a
function returning them, for a registry that can grow: models, datasets); `metadata["help"]` is
its help and `metadata["min"]` its smallest allowed value. The command lines
(`nc_core.cli.args`) and every validation derive from these, so no choice list, bound or
default is written twice.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Literal

NONE_TEXT = ("none", "null")
TRUE_TEXT, FALSE_TEXT = ("true", "1", "yes"), ("false", "0", "no")


def split_optional(hint: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed) of a field's type hint."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def hints(cls: type) -> dict[str, Any]:
    """Field name -> resolved type hint of dataclass `cls`."""
    return typing.get_type_hints(cls)


def field_of(cls: type, name: str) -> dataclasses.Field:
    """The dataclass field `name` of `cls` (KeyError when there is none)."""
    return {f.name: f for f in dataclasses.fields(cls)}[name]


def choices(cls: type, name: str) -> tuple | None:
    """The allowed values of field `name` of `cls`: its Literal's values, or its
    `metadata["choices"]()`; None when any value of its type is allowed."""
    made = field_of(cls, name).metadata.get("choices")
    if made is not None:
        return tuple(made())
    base, _ = split_optional(hints(cls)[name])
    return typing.get_args(base) if typing.get_origin(base) is Literal else None


def parse_value(cls: type, name: str, text: str) -> Any:
    """`text` read as field `name` of `cls`; ValueError naming the field and what is allowed."""
    base, optional = split_optional(hints(cls)[name])
    low = text.strip().lower()
    if optional and low in NONE_TEXT:
        return None
    allowed = choices(cls, name)
    if allowed is not None:
        for value in allowed:
            if str(value) == text.strip():
                return value
        close = difflib.get_close_matches(text.strip(), [str(v) for v in allowed], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        if "choices" in field_of(cls, name).metadata:  # a registry: others load by NC_PLUGINS
            hint += "; one registered by another module loads with NC_PLUGINS=MODULE"
        raise ValueError(
            f"{name}={text!r}: expected one of {{{','.join(map(str, allowed))}}}{hint}"
        )
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


def check_fields(obj: Any, *, label: str | None = None) -> None:
    """Raise ValueError naming the first field of dataclass instance `obj` that is a non-finite
    float, outside its choices, or below its `metadata["min"]`. `label` prefixes the field in
    the message (default: the class name), e.g. "RunConfig.vit_dim"."""
    cls = type(obj)
    types_ = hints(cls)
    for f in dataclasses.fields(cls):
        value = getattr(obj, f.name)
        where = f"{label}{f.name}" if label is not None else f"{cls.__name__}.{f.name}"
        if value is None:
            continue
        base, _ = split_optional(types_[f.name])
        if base is float and isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}={value}: must be a finite number")
        allowed = choices(cls, f.name)
        if allowed is not None and value not in allowed:
            raise ValueError(
                f"{where}={value!r}: expected one of {{{','.join(map(str, allowed))}}}"
            )
        low = f.metadata.get("min")
        if low is not None and value < low:
            raise ValueError(f"{where}={value}: must be >= {low}")


def check_choices(obj: Any) -> None:
    """Raise ValueError naming the first field of `obj` outside its choices (`check_fields`)."""
    check_fields(obj)
