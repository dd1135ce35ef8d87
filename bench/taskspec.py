"""Finding KMBench tasks through lm-eval's own index, and the knowledge corpus each one names.

A KMBench task is a plain lm-eval YAML task whose `metadata` names a `corpus` JSONL
(`{id, contents}`), relative to the YAML file. lm-eval owns everything else.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError
from bench.memory import Corpus
from bench.paths import TASKS_DIR


@dataclass(frozen=True)
class TaskSpec:
    name: str
    yaml_path: Path
    version: str
    corpus_path: Path | None  # None for a probe: questions asked beside other tasks' runs
    primary_metric: str
    judged: bool = False  # whether the optional LLM judge (`--judge`) grades this task's answers

    def corpus(self) -> Corpus:
        if self.corpus_path is None:
            raise UserError(f"{self.name} is a probe with no knowledge to learn; it is asked beside adapter runs")
        return Corpus.from_jsonl(self.corpus_path, name=self.name)


def task_manager(extra_paths: Sequence[Path] = ()):  # -> lm_eval.tasks.TaskManager
    """Only KMBench's own folders (and the user's), not lm-eval's thousands of built-in tasks."""
    from lm_eval.tasks import TaskManager

    for path in extra_paths:
        if not Path(path).is_dir():
            raise UserError(f"task folder {path} does not exist")
    return TaskManager(include_path=[str(TASKS_DIR), *map(str, extra_paths)], include_defaults=False)


def natural_key(name: str) -> list:
    """`kmb_phonebook_2k` before `kmb_phonebook_16k`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def expand_tasks(manager, names: Sequence[str]) -> list[str]:
    """Task names in order; a tag (e.g. `kmb_phonebook`) stands for all its tasks."""
    known = set(manager.all_tasks)
    expanded: list[str] = []
    for name in names:
        entry = manager.task_index.get(name)
        if entry is None:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; `kmbench ls` lists them"
            raise UserError(f"unknown task {name!r}{hint}")
        if entry.yaml_path is None or entry.kind.name in ("TAG", "GROUP"):
            members = sorted((n for n, e in manager.task_index.items() if name in e.tags), key=natural_key)
            expanded += [m for m in members if m not in expanded]
        elif name not in expanded:
            expanded.append(name)
    return expanded


def task_spec(manager, name: str) -> TaskSpec:
    from lm_eval.tasks._yaml_loader import load_yaml

    yaml_path = Path(manager.task_index[name].yaml_path)
    cfg = load_yaml(yaml_path, resolve_func=False)
    meta = cfg.get("metadata") or {}
    if "corpus" not in meta and not meta.get("probe"):
        raise UserError(f"task {name} ({yaml_path}) names no `metadata.corpus`, so no memory can learn it")
    metrics = [m["metric"] for m in cfg.get("metric_list", []) if isinstance(m, dict) and "metric" in m]
    return TaskSpec(
        name=name,
        yaml_path=yaml_path,
        version=str(meta.get("version", "0")),
        corpus_path=(yaml_path.parent / meta["corpus"]).resolve() if "corpus" in meta else None,
        primary_metric=str(meta.get("primary_metric") or (metrics[0] if metrics else "exact_match")),
        judged=bool(meta.get("judge")),
    )
