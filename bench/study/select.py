"""`kmbench select`: each memory's defaults chosen on held-out tasks by a stated rule, and the record of it.

A benchmark that tunes its settings on the questions it reports has tuned on its test set. The
selection file (`bench/study/selection.yaml`) is a sweep (`bench.study.sweep`) over tasks tagged
`kmb_heldout` only (`tasks/heldout/`: data no evaluated task asks), plus a `rule`
(`bench.report.selection.Rule`). Its runs are ordinary sweep runs, keyed by config hash, so an
interrupted selection resumes; the record lists every candidate's scores and cost, each memory's
winner and the rule, and `default_mismatches` names every code default that differs from it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from pathlib import Path
from statistics import mean
from typing import Any

from bench.core.config import config_dict, parse_config
from bench.core.errors import UserError
from bench.core.git import git_state
from bench.harness.roles import task_roles
from bench.harness.taskspec import task_manager, task_spec
from bench.report.selection import (
    Candidate,
    HeldOutTask,
    MemorySelection,
    Rule,
    SelectionRecord,
    winner_of,
)
from bench.run.memories import make_memory, memory_class
from bench.run.record import RunRecord, write_atomic
from bench.run.runner import RunSettings
from bench.study.sweep import MemoryEntry, Sweep, read_grid_file, run_sweep, sweep_from_mapping


def load_selection(path: Path) -> tuple[Sweep, Rule]:
    """The sweep and the rule of a selection file; anything but held-out tasks and plain configs is refused."""
    data = read_grid_file(path, "selection file")
    rule = parse_config(Rule, data.pop("rule", None) or {}, where=f"{path}: rule")
    sweep = sweep_from_mapping(data, str(path))
    if len(sweep.models) != 1:
        raise UserError(f"{path}: a selection chooses defaults for one model; name exactly one in `models`")
    if any(entry.budgets != (None,) for entry in sweep.memories):
        raise UserError(f"{path}: `budgets` are run settings, not defaults a selection chooses; leave them out")
    if any(entry.limit is not None for entry in sweep.memories):  # the sweep's own limit asks all alike
        raise UserError(f"{path}: candidates are compared on the same questions; no `limit` per memory")
    return sweep, rule


def check_heldout(sweep: Sweep, include_paths: tuple[Path, ...]) -> None:
    """Every task must be tagged `kmb_heldout` (data no evaluated task asks) and score higher-is-better."""
    manager = task_manager(include_paths)
    for name in dict.fromkeys([*sweep.tasks, *(t for entry in sweep.memories for t in entry.tasks)]):
        entry = manager.task_index.get(name)
        heldout = task_roles().heldout_tag
        if entry is None or heldout not in entry.tags:
            raise UserError(f"selection task {name} is not tagged {heldout}: defaults are chosen on held-out data")
        spec = task_spec(manager, name)
        if not spec.is_higher_better(spec.primary_metric):
            raise UserError(f"selection task {name}: its primary metric {spec.primary_metric} is not higher-is-better")


def candidate_configs(entry: MemoryEntry, seed: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(knobs, full config without seed) for each config of an entry, built as a run builds it."""
    out = []
    for values in entry.configs():
        config = config_dict(make_memory(entry.memory, values, seed).config)
        config.pop("seed", None)
        out.append(({name: config[name] for name, _ in entry.grid}, config))
    return out


def candidates_of(entry: MemoryEntry, sweep: Sweep, records: list[RunRecord], rule: Rule) -> list[Candidate]:
    """An entry's candidates scored from the sweep's records: primary metric and cost, per task, mean over seeds."""
    found: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for r in records:
        config = {k: v for k, v in r.memory.config.items() if k != "seed"}
        found[(r.memory.name, repr(sorted(config.items())))].append(r)
    candidates = []
    for knobs, config in candidate_configs(entry, sweep.seeds[0]):
        mine = found[(entry.memory, repr(sorted(config.items())))]
        scores, costs = {}, []
        for task in entry.tasks or sweep.tasks:
            runs = [r for r in mine if r.task.name == task]
            if not runs:
                raise UserError(f"{entry.memory} {knobs}: no record on {task}; rerun `kmbench select`")
            scores[task] = mean(r.metrics[r.task.primary_metric].value for r in runs)
            costs.append(mean(sum(getattr(r.cost, c) for c in rule.cost) for r in runs))
        run_ids = sorted(r.run.run_id for r in mine)
        candidates.append(Candidate(knobs, config, scores, mean(scores.values()), sum(costs), run_ids))
    return candidates


def select(path: Path, base: RunSettings, command: str = "") -> SelectionRecord:
    """Run (or resume) the selection file's grid and decide each memory's winner."""
    sweep, rule = load_selection(path)
    check_heldout(sweep, base.include_paths)
    result = run_sweep(sweep, dataclasses.replace(base, forgetting=False))
    records = result.records
    selections: dict[str, MemorySelection] = {}
    for entry in sweep.memories:
        found, tasks = candidates_of(entry, sweep, records, rule), list(entry.tasks or sweep.tasks)
        knobs = [name for name, _ in entry.grid]
        if entry.memory in selections:  # a second entry for a memory adds candidates to the same choice
            previous = selections[entry.memory]
            if set(previous.tasks) != set(tasks):
                raise UserError(f"{path}: the entries of {entry.memory} run on different tasks, so cannot be compared")
            found, knobs = previous.candidates + found, list(dict.fromkeys(previous.knobs + knobs))
        winner = winner_of(found, rule).knobs
        selections[entry.memory] = MemorySelection(entry.memory, knobs, tasks, found, winner)
    infos = {r.task.name: r.task for r in records}  # every task has records: each candidate found its own
    names = dict.fromkeys(t for m in selections.values() for t in m.tasks)
    tasks = [
        HeldOutTask(t.name, t.version, t.corpus_sha256, t.n_documents, t.n_queries, t.primary_metric)
        for t in (infos[name] for name in names)
    ]
    sha, dirty = git_state()
    return SelectionRecord(
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        git_sha=sha,
        git_dirty=dirty,
        command=command or f"kmbench select {path}",
        selection_file=str(path),
        model=sweep.models[0],
        model_id=records[0].model.model_id,
        rule=rule,
        rule_text=rule.describe(),
        tasks=tasks,
        memories=list(selections.values()),
    )


def write_selection(record: SelectionRecord, path: Path) -> None:
    """Write the record atomically (a crash never leaves half a record)."""
    write_atomic(path, record.to_json())


def default_mismatches(record: SelectionRecord) -> list[str]:
    """`memory.field: default X, selected Y` wherever the code's defaults differ from a winner's config
    (its knobs and the fields the selection held fixed; fields added since the record are not compared)."""
    problems = []
    for selection in record.memories:
        defaults = config_dict(memory_class(selection.memory).config_class())
        for field, value in selection.chosen().config.items():
            if field in defaults and defaults[field] != value:
                problems.append(f"{selection.memory}.{field}: default {defaults[field]!r}, selected {value!r}")
    return problems
