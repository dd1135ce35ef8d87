"""Which way is better for each column of a report, so every arrow, ordering and Pareto front agrees.

A metric's direction is its task's (the `higher_is_better` of the task's metric_list, read by
`bench.harness.taskspec.task_spec`); KMBench's derived metrics say theirs in
`bench.core.metrics`; cost columns are lower-is-better (`bench.run.record.LOWER_IS_BETTER`).
A task that is no longer found (renamed, or from a task folder not on this machine) falls back
to higher-is-better for its metrics, with a warning naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from bench.core.errors import UserError
from bench.core.metrics import arrow, metric_direction
from bench.run.record import LOWER_IS_BETTER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Directions:
    """Task -> metric name -> higher is better, as the tasks declare; `missing`: tasks not found."""

    declared: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    shown: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # task -> `metadata.report_metrics`

    def higher_is_better(self, task: str, column: str) -> bool:
        """A cost column: lower; a metric: as its task (or KMBench) says; anything else: higher."""
        if column in LOWER_IS_BETTER:
            return False
        found = metric_direction(column, self.declared.get(task, {}))
        return True if found is None else found

    def arrow(self, task: str, column: str) -> str:
        return arrow(self.higher_is_better(task, column))


@cache
def default_manager() -> Any:
    """KMBench's own task index, built once per process (about a second, no torch)."""
    from bench.harness.taskspec import task_manager

    return task_manager()


def directions_for(tasks: Iterable[str], manager: Any = None) -> Directions:
    """The directions of these tasks' metrics, from their specs (`manager`: KMBench's tasks by default)."""
    from bench.harness.taskspec import task_spec

    manager = manager if manager is not None else default_manager()
    declared, missing, shown = {}, [], {}
    for task in dict.fromkeys(map(str, tasks)):
        try:
            spec = task_spec(manager, task)
            declared[task] = dict(spec.higher_is_better)
            if spec.report_metrics:
                shown[task] = spec.report_metrics
        except (KeyError, TypeError, UserError, OSError, ValueError):
            missing.append(task)
    if missing:
        log.warning("tasks not found, their metrics taken as higher-is-better: %s", ", ".join(missing))
    return Directions(declared, tuple(missing), shown)
