"""Finding KMBench tasks through lm-eval's own index, and the knowledge corpus each one names.

A KMBench task is a plain lm-eval YAML task whose `metadata` names a `corpus` JSONL
(`{id, contents}`), relative to the YAML file. lm-eval owns everything else.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.errors import UserError
from bench.core.memory import Corpus
from bench.core.metrics import metric_direction
from bench.core.paths import TASKS_DIR

# How far a task's questions stand from the lines the memory was given (`metadata.level`), in
# the order the depth view shows them: the training wording itself, other wordings of the same
# question, the fact asked backwards (the answer given, its key asked), and questions that need
# two facts at once. A task that names no level is left out of the depth view.
LEVELS = ("verbatim", "paraphrase", "reverse", "multi_hop")


@dataclass(frozen=True)
class TaskSpec:
    """What KMBench needs from a task beyond what lm-eval reads: its corpus, version, headline
    metric, which way each of its metrics is better, and how far its questions stand from the
    knowledge as written (`level`, one of `LEVELS`; None when the task does not say)."""

    name: str
    yaml_path: Path
    version: str
    corpus_path: Path | None  # None for a probe: questions asked beside other tasks' runs
    primary_metric: str
    judged: bool = False  # whether the optional LLM judge (`--judge`) grades this task's answers
    level: str | None = None  # `metadata.level`; part of equality and hash, like the other plain fields
    rows: int | None = None  # `metadata.rows`: the task uses the first rows of its data files
    sham_of: str | None = None  # `metadata.sham_of`: the task whose questions this asks over a sham corpus
    # `metadata.previous_corpus`: an update task's book before the change. Memories write it first,
    # then take `corpus` (the book now) as an update (`Memory.update`), then answer.
    previous_corpus_path: Path | None = None
    # `metadata.report_metrics`: the metrics a report's table shows for this task (up to three),
    # where the primary one and the usual secondary ones would not say what the task measures
    report_metrics: tuple[str, ...] = ()
    # metric name -> its metric_list entry's `higher_is_better` (lm-eval's default where absent)
    higher_is_better: Mapping[str, bool] = field(default_factory=dict, compare=False)

    def is_higher_better(self, label: str) -> bool:
        """Which way is better for a stored metric label; higher for a metric nothing declares."""
        found = metric_direction(label, self.higher_is_better)
        return True if found is None else found

    def corpus(self) -> Corpus:
        """The knowledge memories write; a probe has none, which is a user error to ask for."""
        if self.corpus_path is None:
            raise UserError(f"{self.name} is a probe with no knowledge to learn; it is asked beside adapter runs")
        corpus = Corpus.from_jsonl(self.corpus_path, name=self.name)
        if self.rows is None:
            return corpus
        return Corpus(corpus.name, corpus.documents[: self.rows])

    def previous_corpus(self) -> Corpus | None:
        """An update task's book before the change; None for every other task."""
        if self.previous_corpus_path is None:
            return None
        return Corpus.from_jsonl(self.previous_corpus_path, name=f"{self.name}-previous")


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
    """Read a task's YAML `metadata` (corpus, version, primary metric, judge) without building the lm-eval task."""
    from lm_eval.tasks._yaml_loader import load_yaml

    yaml_path = Path(manager.task_index[name].yaml_path)
    cfg = load_yaml(yaml_path, resolve_func=False)
    meta = cfg.get("metadata") or {}
    if "corpus" not in meta and not meta.get("probe"):
        raise UserError(f"task {name} ({yaml_path}) names no `metadata.corpus`, so no memory can learn it")
    entries = [m for m in cfg.get("metric_list") or [] if isinstance(m, dict) and isinstance(m.get("metric"), str)]
    metrics = [m["metric"] for m in entries]
    return TaskSpec(
        name=name,
        yaml_path=yaml_path,
        version=str(meta.get("version", "0")),
        corpus_path=(yaml_path.parent / meta["corpus"]).resolve() if "corpus" in meta else None,
        primary_metric=str(meta.get("primary_metric") or (metrics[0] if metrics else "exact_match")),
        judged=bool(meta.get("judge")),
        level=task_level(name, meta.get("level")),
        rows=int(meta["rows"]) if meta.get("rows") is not None else None,
        sham_of=str(meta["sham_of"]) if meta.get("sham_of") else None,
        previous_corpus_path=(yaml_path.parent / meta["previous_corpus"]).resolve()
        if meta.get("previous_corpus")
        else None,
        report_metrics=tuple(str(m) for m in meta.get("report_metrics") or ()),
        higher_is_better={
            m["metric"]: bool(m["higher_is_better"]) if "higher_is_better" in m else default_direction(m["metric"])
            for m in entries
        },
    )


def task_level(name: str, value: Any) -> str | None:
    """A task's `metadata.level`, checked here so a typo fails at planning rather than hiding
    the task from the depth view."""
    if value is None:
        return None
    if value not in LEVELS:
        raise UserError(f"task {name}: metadata.level {value!r} is not one of {', '.join(LEVELS)}")
    return str(value)


def default_direction(metric: str) -> bool:
    """What lm-eval assumes for a metric whose entry names no `higher_is_better`: its registry's
    value for a built-in metric (perplexity: lower), else higher."""
    import lm_eval.api.metrics  # noqa: F401  (registers the built-in metrics)
    from lm_eval.api.registry import higher_is_better_registry

    found = higher_is_better_registry.get(metric) if metric in higher_is_better_registry else None
    return True if found is None else bool(found)


def task_builder(folder: str) -> Any:
    """A built-in task's data builder (`tasks/<folder>/build.py`), loaded from its file so the
    installed `kmbench` finds it from any working directory."""
    import importlib.util

    path = TASKS_DIR / folder / "build.py"
    spec = importlib.util.spec_from_file_location(f"tasks.{folder}.build", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise UserError(f"no data builder at {path}")
    if spec.name in sys.modules:  # loaded before (or imported as tasks.<folder>.build from the root)
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # registered first: its dataclasses look their module up
    spec.loader.exec_module(module)
    return module
