"""The layers stay apart: pure code does no I/O, and the core knows no adapter or door.

DESIGN.md keeps domain rules and the SMPP protocol pure (no sockets, tasks, clocks or databases)
so that they are tested byte for byte without any, and keeps the core (``service``) behind
``ports`` so that PostgreSQL, Redis or a new door can be added without touching it. An import
is where that breaks first; this walks every module's imports, so a slip fails here with the
file and line rather than in a review.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import smsgate

PACKAGE = Path(smsgate.__file__).parent
#: What pure code may not import: I/O, concurrency, and the outer layers.
IO: frozenset[str] = frozenset(
    {"asyncio", "socket", "ssl", "sqlite3", "threading", "subprocess", "aiohttp", "uvloop"}
)
OUTER: frozenset[str] = frozenset(
    {"smsgate.adapters", "smsgate.doors", "smsgate.drivers", "smsgate.app", "smsgate.cli"}
)
RULES: dict[str, frozenset[str]] = {
    "domain": IO | OUTER | {"smsgate.service"},
    "smpp": IO | OUTER | {"smsgate.service"},
    "ports": OUTER | {"smsgate.service"},
    "service": OUTER,
}


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(("smsgate", *path.relative_to(PACKAGE).parent.parts))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield node.lineno, base


def forbidden(module: str, banned: frozenset[str]) -> bool:
    return any(module == b or module.startswith(b + ".") for b in banned)


@pytest.mark.parametrize("layer", sorted(RULES))
def test_a_layer_imports_nothing_it_must_not(layer: str) -> None:
    banned = RULES[layer]
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for line, module in imports(path)
        if forbidden(module, banned)
    ]
    assert found == []


def test_the_walk_sees_relative_imports() -> None:
    here = PACKAGE / "smpp" / "session.py"
    modules = {module for _line, module in imports(here)}

    assert any(m.startswith("smsgate.smpp.") for m in modules)
