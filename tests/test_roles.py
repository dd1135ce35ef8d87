"""bench/ names no task: the tasks its code relies on come from tasks/roles.yaml."""

from __future__ import annotations

import ast

from bench.core.paths import PROJECT_ROOT
from bench.harness.roles import task_roles
from bench.harness.taskspec import task_manager


def code_strings(tree: ast.AST) -> set[str]:
    """String constants that are not docstrings."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }


def test_no_module_of_bench_names_a_task_or_tag():
    manager = task_manager()
    known = set(manager.task_index)
    named = {
        str(path.relative_to(PROJECT_ROOT)): sorted(code_strings(ast.parse(path.read_text())) & known)
        for path in (PROJECT_ROOT / "bench").rglob("*.py")
    }
    assert {path: names for path, names in named.items() if names} == {}


def test_every_role_names_a_task_tag_or_file_that_exists():
    manager = task_manager()
    roles = task_roles()
    for name in (roles.default_task, roles.probe_task, *roles.perf.values()):
        assert name in manager.all_tasks, name
    for tag in (roles.heldout_tag, roles.core_tag):
        assert any(tag in entry.tags for entry in manager.task_index.values()), tag
    assert roles.qa_template.is_file() and roles.study_training_qa.is_file()
    assert (roles.qa_template.parents[1] / roles.fresh_books / "build.py").is_file()
