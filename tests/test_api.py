"""Every public function and method of `nc_core` has a typed signature and a docstring.

Public: a name not starting with "_", defined at module level or in a class whose name does not
start with "_" (also inside a module-level `if` or `try`, e.g. `if TYPE_CHECKING:`); closures
are not. Typed: every parameter but `self`/`cls` annotated, `*args` and `**kwargs` included,
and a return annotation. Read from the source (AST), so nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nc_core"
# "path::Qualified.name" of offenders in files being changed elsewhere; fix them and remove them.
OWNED_ELSEWHERE: set[str] = set()
Function = ast.FunctionDef | ast.AsyncFunctionDef


def public_functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, Function]]:
    """(qualified name, node) of each public function or method under module or class `tree`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield from public_functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, Function) and not node.name.startswith("_"):
            yield f"{prefix}{node.name}", node
        elif isinstance(node, ast.If | ast.Try | ast.With):  # their bodies, not function bodies
            yield from public_functions(node, prefix)


def problems(node: Function) -> list[str]:
    """What `node` lacks: annotations (by parameter), a return annotation, a docstring."""
    a = node.args
    params = [p for p in a.posonlyargs + a.args + a.kwonlyargs if p.arg not in ("self", "cls")]
    untyped = [p.arg for p in params if p.annotation is None]
    untyped += [f"*{p.arg}" for p in (a.vararg,) if p is not None and p.annotation is None]
    untyped += [f"**{p.arg}" for p in (a.kwarg,) if p is not None and p.annotation is None]
    out = [f"untyped {', '.join(untyped)}"] if untyped else []
    out += ["no return type"] * (node.returns is None)
    out += ["no docstring"] * (ast.get_docstring(node) is None)
    return out


def offenders() -> dict[str, str]:
    """'path::name' -> 'path:line name: what it lacks', over every nc_core/**/*.py."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for name, node in public_functions(ast.parse(path.read_text(), filename=str(path))):
            lacks = problems(node)
            if lacks:
                out[f"{rel}::{name}"] = f"{rel}:{node.lineno} {name}: {'; '.join(lacks)}"
    return out


def test_every_public_function_has_types_and_a_docstring():
    found = offenders()
    bad = [line for key, line in found.items() if key not in OWNED_ELSEWHERE]
    assert not bad, f"{len(bad)} public functions lacking types or docstrings:\n" + "\n".join(bad)


def test_owned_elsewhere_lists_only_current_offenders():
    stale = sorted(OWNED_ELSEWHERE - set(offenders()))
    assert not stale, f"fixed or gone, remove from OWNED_ELSEWHERE: {stale}"


def test_scan_finds_each_kind_of_gap():
    source = '''
def ok(x: int, *a: int, **k: int) -> int:
    """Doc."""
def bare(x, *a, **k):
    def inner(y): pass
class C:
    def m(self, y: int) -> None:
        pass
    @property
    def _hidden(self): pass
class _Private:
    def m(self): pass
if True:
    def guarded(z: int):
        """Doc."""
'''
    got = {name: problems(node) for name, node in public_functions(ast.parse(source))}
    assert got == {
        "ok": [],
        "bare": ["untyped x, *a, **k", "no return type", "no docstring"],
        "C.m": ["no docstring"],
        "guarded": ["no return type"],
    }
