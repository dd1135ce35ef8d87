"""The tasks KMBench's code relies on by role (the default task, the retention probe, the
held-out and core tags ...), read from `tasks/roles.yaml`, so that bench/ names no task."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml

from bench.core.paths import TASKS_DIR

ROLES_FILE = TASKS_DIR / "roles.yaml"
PERF_TASKS = ("lines_task", "pages_task", "read_task", "multilora_task", "longdoc_task")


@dataclass(frozen=True)
class TaskRoles:
    default_task: str
    probe_task: str
    heldout_tag: str
    core_tag: str
    qa_template: Path  # a path under tasks/ in the file
    study_training_qa: Path
    fresh_books: str  # a task folder
    perf: Mapping[str, str]  # perf's workloads by name: lines_task, pages_task ... (PERF_TASKS)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            names = value.values() if isinstance(value, Mapping) else [value]
            if not all(isinstance(v, (str, Path)) and str(v) for v in names):
                raise ValueError(f"{ROLES_FILE}: {f.name} must name tasks, tags or files, not {value!r}")
        if set(self.perf) != set(PERF_TASKS):
            raise ValueError(f"{ROLES_FILE}: perf must set exactly: {', '.join(PERF_TASKS)}")


@functools.cache
def task_roles() -> TaskRoles:
    """Read once: the file ships with the tasks and does not change while kmbench runs."""
    raw = yaml.safe_load(ROLES_FILE.read_text())
    names = {f.name for f in dataclasses.fields(TaskRoles)}
    if not isinstance(raw, dict) or set(raw) != names:
        raise ValueError(f"{ROLES_FILE} must set exactly: {', '.join(sorted(names))}")
    paths = {"qa_template", "study_training_qa"}
    perf = raw.pop("perf")
    return TaskRoles(
        **{k: TASKS_DIR / v if k in paths else str(v) for k, v in raw.items()},
        perf=MappingProxyType(dict(perf) if isinstance(perf, dict) else {}),
    )
