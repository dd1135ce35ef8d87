"""The documentation promise, checked: every module says what it is for, and the contract and
answering layers document every public name (others read them first to write a backend)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted([*ROOT.glob("bench/**/*.py"), *ROOT.glob("baselines/**/*.py")])
DOCUMENTED = sorted([*ROOT.glob("bench/core/*.py"), *ROOT.glob("bench/answer/*.py")])
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def undocumented(tree: ast.Module) -> list[str]:
    """Public module-level classes and functions, and public methods of public classes, with no docstring.

    Nested functions are not looked at, and dunders (`__init__`, `__call__` ...) count as private.
    """
    missing = []
    for node in tree.body:
        if not isinstance(node, DEFINITIONS) or node.name.startswith("_"):
            continue
        if ast.get_docstring(node) is None:
            missing.append(node.name)
        if isinstance(node, ast.ClassDef):
            missing += [
                f"{node.name}.{item.name}"
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                and not item.name.startswith("_")
                and ast.get_docstring(item) is None
            ]
    return missing


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_module_has_docstring(path: Path) -> None:
    assert ast.get_docstring(ast.parse(path.read_text())), f"{rel(path)} has no module docstring"


@pytest.mark.parametrize("path", DOCUMENTED, ids=rel)
def test_public_names_have_docstrings(path: Path) -> None:
    missing = undocumented(ast.parse(path.read_text()))
    assert not missing, f"{rel(path)}: no docstring on {', '.join(missing)}"


def test_every_memory_config_field_says_what_it_does():
    """The memory reference (docs/memories.md) is written from these help texts."""
    import dataclasses

    from bench.run.memories import MEMORIES

    silent = [
        f"{name}.{f.name}"
        for name, cls in MEMORIES.items()
        for f in dataclasses.fields(cls.config_class)
        if not f.metadata.get("help")
    ]
    assert not silent, f"config fields without field(metadata={{'help': ...}}): {silent}"
