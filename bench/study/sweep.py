"""A grid of runs from one YAML file: models x tasks x memories (x field grids) x seeds x budgets;
a memory entry may narrow the tasks and seeds it runs on.

Every run is keyed by the hash of its full config (`bench.run.runner.run_id`) and skipped when its
record exists, so an interrupted sweep resumes where it stopped, and a record is never
written twice. Example:

    name: capacity
    models: [smollm2-135m]
    tasks: [kmb_phonebook_1k, kmb_phonebook_2k]
    seeds: [0, 1]
    memories:
      - none
      - {memory: lora, grid: {rank: [4, 16]}}        # one run per rank
      - {memory: icl, budgets: [256, 1024, null], seeds: [0]}  # a run per budget (null: the window), one seed
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from bench.core.config import check, parse_config
from bench.core.errors import UserError
from bench.run.record import RunRecord
from bench.run.runner import RunSettings, execute, plan


@dataclass(frozen=True)
class MemoryEntry:
    """One memory line of a grid: a name, fixed fields, a grid of fields, and context budgets."""

    memory: str
    fields: tuple[tuple[str, Any], ...] = ()
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    budgets: tuple[int | None, ...] = (None,)
    seeds: tuple[int, ...] = ()  # empty: the sweep's seeds (greedy ICL/RAG need only one)
    tasks: tuple[str, ...] = ()  # empty: the sweep's tasks

    def configs(self) -> list[dict[str, Any]]:
        names = [name for name, _ in self.grid]
        return [
            {**dict(self.fields), **dict(zip(names, values, strict=True))}
            for values in itertools.product(*(values for _, values in self.grid))
        ]


@dataclass(frozen=True)
class Sweep:
    name: str
    tasks: tuple[str, ...]
    memories: tuple[MemoryEntry, ...]
    models: tuple[str, ...] = ("smollm2-135m",)
    seeds: tuple[int, ...] = (0,)
    limit: int | None = None
    forgetting: bool = True  # ask the forgetting probe after adapter runs

    def __post_init__(self) -> None:
        check(bool(self.name), "a sweep needs a name")
        check(bool(self.tasks), "tasks must not be empty")
        check(bool(self.memories), "memories must not be empty")
        check(bool(self.models), "models must not be empty")
        check(bool(self.seeds), "seeds must not be empty")

    def cells(self) -> list[tuple[str, int, int | None, tuple[str, ...], str, dict[str, Any]]]:
        """(model, seed, context budget, tasks, memory, fields): each cell runs on each of its tasks."""
        return [
            (model, seed, budget, entry.tasks or self.tasks, entry.memory, config)
            for model in self.models
            for entry in self.memories
            for seed in entry.seeds or self.seeds
            for budget in entry.budgets
            for config in entry.configs()
        ]


def memory_entry(item: Any, where: str) -> MemoryEntry:
    if isinstance(item, str):
        return MemoryEntry(item)
    if not isinstance(item, Mapping) or not isinstance(item.get("memory"), str):
        raise UserError(f"{where}: a memory is a name or a mapping with a `memory` key")
    values = dict(item)
    name, grid, budgets = values.pop("memory"), values.pop("grid", {}), values.pop("budgets", [None])
    seeds, tasks = values.pop("seeds", []), values.pop("tasks", [])
    if not isinstance(seeds, list) or not all(isinstance(x, int) for x in seeds):
        raise UserError(f"{where}: `seeds` is a list of integers")
    if not isinstance(tasks, list) or not all(isinstance(x, str) for x in tasks):
        raise UserError(f"{where}: `tasks` is a list of task names")
    if not isinstance(grid, Mapping) or not all(isinstance(v, list) and v for v in grid.values()):
        raise UserError(f"{where}: `grid` maps fields to non-empty lists of values")
    if not isinstance(budgets, list) or not all(b is None or (isinstance(b, int) and b >= 0) for b in budgets):
        raise UserError(f"{where}: `budgets` is a list of context budgets in tokens (null: the whole window)")
    grid_axes = tuple((k, tuple(v)) for k, v in grid.items())
    return MemoryEntry(name, tuple(values.items()), grid_axes, tuple(budgets) or (None,), tuple(seeds), tuple(tasks))


def load_sweep(path: Path) -> Sweep:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read sweep {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: malformed YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a sweep is a mapping (name, tasks, memories, models, seeds, limit)")
    entries = data.get("memories")
    if not isinstance(entries, list):
        raise UserError(f"{path}: `memories` is a list")
    values = {**data, "memories": tuple(memory_entry(m, f"{path}: memories[{i}]") for i, m in enumerate(entries))}
    for key in ("tasks", "models", "seeds"):
        if key in values:
            values[key] = tuple(values[key]) if isinstance(values[key], list) else (values[key],)
    return parse_config(Sweep, values, where=str(path))


def run_sweep(sweep: Sweep, base: RunSettings, models: tuple[str, ...] = ()) -> list[RunRecord]:
    """Every run of the grid (existing records skipped); one model load per (model, seed, budget)."""
    if models:  # `--models` on the command line replaces the file's
        sweep = dataclasses.replace(sweep, models=models)
    groups: dict[tuple, list[tuple[str, dict[str, Any]]]] = {}
    for model, seed, budget, tasks, memory, config in sweep.cells():
        groups.setdefault((model, seed, budget, tasks), []).append((memory, config))
    plans = []
    for (model, seed, budget, tasks), memories in groups.items():  # every mistake found before the first run
        settings = dataclasses.replace(
            base,
            model=model,
            seed=seed,
            context_budget=budget,
            limit=sweep.limit,
            forgetting=base.forgetting and sweep.forgetting,
        )
        plans.append(plan(settings, tasks, memories))
    records: list[RunRecord] = []
    total = sum(len(p.tasks) * len(p.memories) for p in plans)
    with tqdm(total=total, desc=f"sweep {sweep.name}", unit="run") as bar:
        for p in plans:
            records += execute(p, command=f"kmbench sweep {sweep.name}", on_done=lambda _: bar.update(1))
    return records
