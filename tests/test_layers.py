"""The layout's promise, checked: imports point only down the layers and never run in a circle.

Every import counts, lazy ones inside functions too. `bench/` is layered bottom to top as
`LAYERS` lists; `baselines/` sits above the answering layer and only the run layer and the CLI
may import it (the memory registry); task folders are leaves that nothing in `bench/` imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top: a module may import its own layer or any layer before it.
LAYERS = (
    "bench.core",
    "bench.harness",
    "bench.model",
    "bench.answer",
    "bench.parts",
    "baselines",
    "bench.run",
    "bench.report",
    "bench.study",
    "bench.board",
    "bench.cli",
    "tasks",
)
REGISTRY_IMPORTERS = ("baselines", "bench.run", "bench.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    files = [*ROOT.glob("bench/**/*.py"), *ROOT.glob("baselines/**/*.py"), *ROOT.glob("tasks/**/*.py")]
    return {module_name(p): p for p in files}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules `path` imports anywhere in its body (a `from package import module` names the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # a relative import: climb `level - 1` packages up from this one
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known}
    return found - {name}


def layer_of(module: str) -> int:
    matches = [i for i, layer in enumerate(LAYERS) if module == layer or module.startswith(layer + ".")]
    assert matches, f"{module} belongs to no layer; add its package to LAYERS"
    return matches[-1]


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, name, set(modules)) for name, path in modules.items()}


def test_every_import_points_down_or_sideways() -> None:
    upward = [
        f"{source} -> {target}"
        for source, targets in import_graph().items()
        for target in targets
        if layer_of(target) > layer_of(source)
    ]
    assert not upward, "imports pointing up the layers:\n" + "\n".join(sorted(upward))


def test_only_the_run_layer_and_the_cli_import_the_memory_registry() -> None:
    offenders = [
        source
        for source, targets in import_graph().items()
        if any(t == "baselines" or t.startswith("baselines.") for t in targets)
        and not source.startswith(REGISTRY_IMPORTERS)
    ]
    assert not offenders, f"modules importing baselines/ besides the run layer and the CLI: {offenders}"


def test_no_import_circle() -> None:
    graph = import_graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    cycles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_the_checker_sees_lazy_and_upward_imports(tmp_path: Path) -> None:
    """The graph test can fail: a lazy import inside a function is found."""
    fake = tmp_path / "mod.py"
    fake.write_text("def f():\n    from bench.run.runner import execute\n")
    assert imports_of(fake, "bench.core.fake", {"bench.run.runner"}) == {"bench.run.runner"}
    assert layer_of("bench.run.runner") > layer_of("bench.core.fake")


def test_adapters_have_one_lifetime():
    """Only `bench.model.adapters` takes adapters out (through `bare_model`): no other module of
    the project cleans up after a memory by hand."""
    callers = [
        path.relative_to(ROOT).as_posix()
        for path in project_modules().values()
        if "unload_adapters(" in path.read_text() and path.name != "adapters.py"
    ]
    assert callers == []


def test_bare_model_takes_out_what_a_failing_block_installed(tiny_model, tmp_path):
    import pytest

    from baselines.lora import LoRAConfig, peft_config
    from bench.model.adapters import bare_model, loaded_adapters

    with pytest.raises(RuntimeError), bare_model(tiny_model):
        from peft import get_peft_model

        tiny_model.peft = get_peft_model(tiny_model.model, peft_config(LoRAConfig(rank=2)), adapter_name="x")
        assert loaded_adapters(tiny_model) == ["x"]
        raise RuntimeError("a write that failed half-way")
    assert tiny_model.peft is None and loaded_adapters(tiny_model) == []
