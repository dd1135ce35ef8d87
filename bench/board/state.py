"""What one validation knows: this kmbench's view of each task (read once) and the problems found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.board.reproduce import Reproducer, Reproduction
from bench.run.record import RunRecord


@dataclass
class TaskFacts:
    """This kmbench's view of a task, computed once per validation."""

    version: str
    corpus_sha256: str
    docs: list[dict[str, Any]]
    process_results: Any
    primary_metric: str
    corpus: Any = None  # the task's Corpus, for re-deriving oracle routing
    judged: bool = False  # whether the task has a judge (`metadata.judge`): only then may a record name one
    previous_corpus_sha256: str | None = None  # an update task's book before the change


@dataclass
class Validation:
    folder: Path
    problems: list[str] = field(default_factory=list)
    tasks: dict[str, TaskFacts | None] = field(default_factory=dict)
    accepted: dict[tuple, str] = field(default_factory=dict)  # runs of submissions accepted before
    seen: dict[tuple, str] = field(default_factory=dict)  # runs of this submission
    manager: Any = None
    reproducer: Reproducer | None = None  # reruns rows when asked (`--reproduce`)
    reproductions: list[Reproduction] = field(default_factory=list)
    # each row to rerun, with the memory its config built
    to_reproduce: list[tuple[Path, RunRecord, list[dict[str, Any]], Any]] = field(default_factory=list)
    trusted: dict[str, Reproduction] = field(default_factory=dict)  # reproductions committed at the base
    claims: dict[str, Reproduction] = field(default_factory=dict)  # entries the change adds: rerun, never trusted
    rerun_pending: bool = True  # whether rows not yet reproduced in full get a rerun (the folder changed)
    commits: dict[str, bool] = field(default_factory=dict)  # "ancestor..sha" -> sha descends from ancestor here
    tokenizers: dict[str, Any] = field(default_factory=dict)  # model name -> tokenizer, for token splits

    def fail(self, path: Path, what: str) -> None:
        self.problems.append(f"{path}: {what}")


def task_facts(v: Validation, name: str) -> TaskFacts | None:
    if name not in v.tasks:
        from lm_eval.tasks import get_task_dict
        from lm_eval.tasks._yaml_loader import load_yaml

        from bench.harness.taskspec import task_manager, task_spec

        v.manager = v.manager or task_manager()
        if name not in v.manager.task_index:
            v.tasks[name] = None
            return None
        spec = task_spec(v.manager, name)
        task = get_task_dict([name], v.manager)[name]
        config = load_yaml(spec.yaml_path, resolve_func=True)
        docs = [dict(d) for d in task.test_docs()]
        corpus = spec.corpus() if spec.corpus_path else None
        sha = corpus.sha256 if corpus else ""
        previous = spec.previous_corpus()
        v.tasks[name] = TaskFacts(
            spec.version,
            sha,
            docs,
            config.get("process_results"),
            spec.primary_metric,
            corpus,
            spec.judged,
            previous.sha256 if previous is not None else None,
        )
    return v.tasks[name]
