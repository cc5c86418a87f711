"""Name -> entry registries (models, datasets), and the modules outside the package that add to
them.

A model or a dataset is one file that registers itself by name when it is imported: the
built-in ones are imported by their package (`nc_core.models`, `nc_core.data`); anyone else's
by naming the module in `NC_PLUGINS` (module names or `.py` paths, separated by ":" or ","),
which every command line reads before it parses options, or by importing it before use. A
registration made outside nc_core remembers its file, so that a study's trials, which run in
other processes, import the same files before they build anything (`plugin_files`).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
PLUGINS_ENV = "NC_PLUGINS"
_EXTERNAL: dict[str, str] = {}  # module name -> file of every registering module outside nc_core


class Registry(Generic[T]):
    """Entries of one kind (`what`: "model", "dataset") by name, in registration order."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T, *, module: str) -> T:
        """Register `entry` as `name` (from module `module`); ValueError if the name is taken by
        another module. Registering again from the same module (a re-import) replaces it."""
        if not name or not name.replace("_", "").isalnum() or not name[0].isalpha():
            raise ValueError(
                f"{self.what} name {name!r}: use letters, digits and '_', starting with a letter"
            )
        old = self._entries.get(name)
        if old is not None and getattr(old, "module", module) != module:
            raise ValueError(
                f"{self.what} {name!r} is registered already (by {old.module}); pick another name"
            )
        self._entries[name] = entry
        _remember(module)
        return entry

    def get(self, name: str) -> T:
        """The entry `name`; ValueError naming the known ones (and the closest) otherwise."""
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(str(name), self._entries, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"{self.what}={name!r}: expected one of {{{','.join(self._entries)}}}{hint}; a new "
            f"{self.what} registers itself in its own module (docs/extending.md)"
        )

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)


def _remember(module: str) -> None:
    if module.split(".")[0] == "nc_core":
        return
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    if path:
        _EXTERNAL[module] = str(Path(path).resolve())


def plugin_files() -> list[str]:
    """Files of the modules outside nc_core that registered something in this process."""
    return sorted(set(_EXTERNAL.values()))


def import_plugin(spec: str) -> None:
    """Import one plugin: a module name (`my_lab.models`) or the path of a `.py` file, once."""
    spec = spec.strip()
    if not spec:
        return
    if spec.endswith(".py"):
        path = Path(spec).resolve()
        if str(path) in _EXTERNAL.values() or any(
            getattr(m, "__file__", None) and Path(m.__file__).resolve() == path
            for m in list(sys.modules.values())
        ):
            return
        if not path.is_file():
            raise ValueError(f"{PLUGINS_ENV}: {spec}: no such file")
        name = f"nc_plugin_{path.stem}_{abs(hash(str(path))) % 10**8}"
        loader_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        loader_spec.loader.exec_module(module)
    else:
        importlib.import_module(spec)


def load_plugins(specs: list[str] | None = None) -> None:
    """Import `specs`, else every module named in `NC_PLUGINS` (":" or "," separated)."""
    if specs is None:
        text = os.environ.get(PLUGINS_ENV, "")
        specs = [s for part in text.split(",") for s in part.split(":")]
    for spec in specs:
        try:
            import_plugin(spec)
        except ImportError as err:
            raise ValueError(f"{PLUGINS_ENV}: cannot import {spec!r} ({err})") from None
