"""A grid of runs from one YAML file: models x tasks x memories (x field grids) x seeds x budgets;
a memory entry may narrow the tasks, seeds and questions it runs on.

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
      - {memory: lora, num_gpus: 1, num_cpus: 4}     # what each run asks of a Ray cluster (`--executor ray`)
      - {memory: lora, profile: study, chat_template: true, grid: {rank: [2, 8]}}  # alpha = rank, chat lines
      - {memory: icl, limit: 4}                      # its runs ask only the first 4 questions of each task

A sweep's `resume_from` names folders of committed records (another sweep's `--out`, such as
`leaderboard/reference/study-cpu-grid`): their records are copied into `--out` where absent
before the first run, so a fresh clone resumes the committed grid instead of retraining it.

An entry's `limit` replaces the sweep's: its runs are the runs `kmbench run --limit N` makes (the
limit is in the run id and the record), so they are partial rows, never ranked on the board.

`--executor ray` runs the same cells as Ray actors (`bench.study.executors`): same run ids, same
records, the same skip rule.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from bench.core.config import DEFAULT_MODEL, check, parse_config
from bench.core.errors import UserError
from bench.core.memory import ANSWER_TURNS
from bench.run.memories import memory_label
from bench.run.record import RunRecord, find_records, samples_path_for
from bench.run.runner import Plan, RunSettings, execute, plan
from bench.study.executors import EXECUTORS, Cell, Resources, SweepResult, import_ray, run_on_ray

log = logging.getLogger(__name__)


def is_positive_int(value: Any) -> bool:
    """A count of questions: YAML's `true` is an int to Python, not a count."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class MemoryEntry:
    """One memory line of a grid: a name, fixed fields, a grid of fields, context budgets, and what
    each of its runs asks of a Ray cluster (ignored in-process)."""

    memory: str
    fields: tuple[tuple[str, Any], ...] = ()
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    budgets: tuple[int | None, ...] = (None,)
    seeds: tuple[int, ...] = ()  # empty: the sweep's seeds (greedy ICL/RAG need only one)
    tasks: tuple[str, ...] = ()  # empty: the sweep's tasks
    resources: Resources = field(default_factory=Resources)
    chat_template: bool | None = None  # read and train inside the chat template; None: the run's setting
    limit: int | None = None  # ask only the first N questions of each task; None: the sweep's limit
    answer_turn: str | None = None  # in the chat template, the turn answers are read in; None: the run's setting

    def configs(self) -> list[dict[str, Any]]:
        names = [name for name, _ in self.grid]
        return [
            {**dict(self.fields), **dict(zip(names, values, strict=True))}
            for values in itertools.product(*(values for _, values in self.grid))
        ]


@dataclass(frozen=True)
class GridCell:
    """One memory config at one model, seed, budget, chat-template setting and question limit, over its tasks."""

    model: str
    seed: int
    budget: int | None
    chat_template: bool | None
    answer_turn: str | None
    limit: int | None  # the entry's, else the sweep's: runs group (and are keyed) by the limit they run at
    tasks: tuple[str, ...]
    memory: str
    config: dict[str, Any]
    resources: Resources


@dataclass(frozen=True)
class Sweep:
    name: str
    tasks: tuple[str, ...]
    memories: tuple[MemoryEntry, ...]
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    seeds: tuple[int, ...] = (0,)
    limit: int | None = None
    forgetting: bool = True  # ask the forgetting probe after adapter runs
    resume_from: tuple[str, ...] = ()  # folders of committed records that count as done (copied into --out)

    def __post_init__(self) -> None:
        check(bool(self.name), "a sweep needs a name")
        check(bool(self.tasks), "tasks must not be empty")
        check(bool(self.memories), "memories must not be empty")
        check(bool(self.models), "models must not be empty")
        check(bool(self.seeds), "seeds must not be empty")
        check(self.limit is None or is_positive_int(self.limit), "limit must be a positive integer")
        check(all(isinstance(f, str) and f for f in self.resume_from), "resume_from is a list of folders")

    def cells(self) -> list[GridCell]:
        """Every cell of the grid; each runs on each of its tasks."""
        return [
            GridCell(
                model,
                seed,
                budget,
                entry.chat_template,
                entry.answer_turn,
                self.limit if entry.limit is None else entry.limit,
                entry.tasks or self.tasks,
                entry.memory,
                config,
                entry.resources,
            )
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
    asks = {key: values.pop(key) for key in ("num_cpus", "num_gpus") if key in values}
    chat, limit = values.pop("chat_template", None), values.pop("limit", None)
    turn = values.pop("answer_turn", None)
    if chat is not None and not isinstance(chat, bool):
        raise UserError(f"{where}: `chat_template` is true or false")
    if turn is not None and turn not in ANSWER_TURNS:
        raise UserError(f"{where}: `answer_turn` is one of {', '.join(ANSWER_TURNS)}, not {turn!r}")
    if limit is not None and not is_positive_int(limit):
        raise UserError(f"{where}: `limit` is a positive number of questions (null: the sweep's limit), not {limit!r}")
    if not isinstance(seeds, list) or not all(isinstance(x, int) for x in seeds):
        raise UserError(f"{where}: `seeds` is a list of integers")
    if not isinstance(tasks, list) or not all(isinstance(x, str) for x in tasks):
        raise UserError(f"{where}: `tasks` is a list of task names")
    if not isinstance(grid, Mapping) or not all(isinstance(v, list) and v for v in grid.values()):
        raise UserError(f"{where}: `grid` maps fields to non-empty lists of values")
    if not isinstance(budgets, list) or not all(b is None or (isinstance(b, int) and b >= 0) for b in budgets):
        raise UserError(f"{where}: `budgets` is a list of context budgets in tokens (null: the whole window)")
    grid_axes = tuple((k, tuple(v)) for k, v in grid.items())
    resources = parse_config(Resources, asks, where=where)
    return MemoryEntry(
        name,
        tuple(values.items()),
        grid_axes,
        tuple(budgets) or (None,),
        tuple(seeds),
        tuple(tasks),
        resources,
        chat,
        limit,
        turn,
    )


def read_grid_file(path: Path, what: str) -> dict[str, Any]:
    """A sweep-shaped YAML file as a mapping with a `memories` list, or a one-line UserError."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: malformed YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a {what} is a mapping (name, tasks, memories, models, seeds, limit)")
    if not isinstance(data.get("memories"), list):
        raise UserError(f"{path}: `memories` is a list")
    return data


def sweep_from_mapping(data: Mapping[str, Any], where: str) -> Sweep:
    """A validated Sweep from a file's mapping (what `load_sweep` and selection files share)."""
    entries = tuple(memory_entry(m, f"{where}: memories[{i}]") for i, m in enumerate(data["memories"]))
    values = {**data, "memories": entries}
    for key in ("tasks", "models", "seeds", "resume_from"):
        if key in values:
            values[key] = tuple(values[key]) if isinstance(values[key], list) else (values[key],)
    return parse_config(Sweep, values, where=where)


def load_sweep(path: Path) -> Sweep:
    return sweep_from_mapping(read_grid_file(path, "sweep"), str(path))


def adopt_records(sources: tuple[str, ...], out: Path) -> int:
    """Copy each source's finished records (a record and its samples) and its train logs into `out`
    where `out` has no file of that name; nothing is overwritten. Returns how many records were adopted."""
    import shutil

    adopted = 0
    for source in map(Path, sources):
        if not (source / "records").is_dir():
            log.warning("resume_from %s: no records/ folder there; its runs are not counted as done", source)
            continue
        for record in find_records(source / "records"):
            samples = samples_path_for(record)
            target = out / record.relative_to(source)
            if target.exists() or samples is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(samples, target.with_name(samples.name))  # samples first, as save_record writes
            shutil.copyfile(record, target)
            adopted += 1
        for train_log in sorted((source / "train_logs").glob("*.json")):  # the adopted writes' loss curves
            target = out / "train_logs" / train_log.name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(train_log, target)
    if adopted:
        log.warning("resume_from: %d finished record(s) copied into %s; their runs are skipped", adopted, out)
    return adopted


def run_sweep(
    sweep: Sweep,
    base: RunSettings,
    models: tuple[str, ...] = (),
    executor: str = "in-process",
    address: str | None = None,
    retries: int = 3,
) -> SweepResult:
    """Every run of the grid (existing records skipped), here or on Ray; every mistake is found before the first run.

    In-process: cells in the file's order, one model load per run of consecutive cells of the same
    (model, seed, budget, chat template, answer turn, limit, tasks); a failing run stops the sweep.
    On Ray (`address`: a cluster, else RAY_ADDRESS or a local one): a failing run is reported and the rest go on.
    """
    if executor not in EXECUTORS:
        raise UserError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    if retries < 0:
        raise UserError("retries must be >= 0")
    if address and executor != "ray":
        raise UserError("a Ray address needs --executor ray")
    if executor == "ray":
        import_ray()  # missing: one line, before any planning
    if models:  # `--models` on the command line replaces the file's
        sweep = dataclasses.replace(sweep, models=models)
    adopt_records(sweep.resume_from, base.out)
    # consecutive cells of one setting share a model load; cells run in the file's order, so an entry
    # written last (an expensive extra) runs last even when its settings match an early one's
    groups: list[tuple[tuple, list[tuple[str, dict[str, Any], Resources]]]] = []
    for c in sweep.cells():
        key = (c.model, c.seed, c.budget, c.chat_template, c.answer_turn, c.limit, c.tasks)
        if not groups or groups[-1][0] != key:
            groups.append((key, []))
        groups[-1][1].append((c.memory, c.config, c.resources))
    plans = []
    for (model, seed, budget, chat, turn, limit, tasks), memories in groups:
        settings = dataclasses.replace(
            base,
            model=model,
            seed=seed,
            context_budget=budget,
            chat_template=base.chat_template if chat is None else chat,
            answer_turn=base.answer_turn if turn is None else turn,
            limit=limit,
            forgetting=base.forgetting and sweep.forgetting,
        )
        plans.append((plan(settings, tasks, [(m, c) for m, c, _ in memories]), memories))
    command, desc = f"kmbench sweep {sweep.name}", f"sweep {sweep.name}"
    if executor == "ray":
        return run_on_ray(ray_cells(plans, command), address, retries, desc)
    records: list[RunRecord] = []
    total = sum(len(p.tasks) * len(p.memories) for p, _ in plans)
    with tqdm(total=total, desc=desc, unit="run") as bar:
        for p, _ in plans:
            records += execute(p, command=command, on_done=lambda _: bar.update(1))
    return SweepResult(records)


def ray_cells(plans: list[tuple[Plan, list[tuple[str, dict[str, Any], Resources]]]], command: str) -> list[Cell]:
    """One cell per run, in the order `execute` runs them. Paths become absolute: a Ray worker may
    start in another folder (they are not part of a run's id, so records keep their names)."""
    cells = []
    for p, memories in plans:
        s = p.settings
        settings = dataclasses.replace(
            s, out=s.out.resolve(), include_paths=tuple(path.resolve() for path in s.include_paths)
        )
        for spec in p.tasks:
            for memory, (name, config, resources) in zip(p.memories, memories, strict=True):
                cells.append(Cell(settings, spec.name, name, config, memory_label(memory), resources, command))
    return cells
