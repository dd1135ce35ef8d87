"""Each memory's gain over its sham control: knowledge, not the answer format.

A sham task (`metadata.sham_of: <task>`) asks a task's questions over another corpus of the same
format, so a memory written from it learns the format and none of the answers. The gain is the
real task's primary score minus the sham's, per model and memory, from the two runs' records.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.report.directions import default_manager
from bench.report.tables import full_runs


def sham_pairs(tasks: list[str], manager: Any = None) -> dict[str, str]:
    """Sham task -> the task it controls, for the shams among `tasks` whose real task is there too."""
    from bench.harness.taskspec import task_spec

    manager = manager if manager is not None else default_manager()
    pairs = {}
    for task in tasks:
        if task not in manager.task_index:
            continue
        real = task_spec(manager, task).sham_of
        if real in tasks:
            pairs[task] = real
    return pairs


def sham_markdown(frame: pd.DataFrame, manager: Any = None) -> str:
    """Per sham pair and model: each memory's score on the real task, on its sham, and the gain."""
    pairs = sham_pairs(sorted(frame["task"].unique()), manager)
    sections = []
    for sham, real in sorted(pairs.items()):
        metric = frame.loc[frame["task"] == real, "primary_metric"].iloc[0]
        lines = [
            f"### {real}: gain over its sham ({sham})",
            "",
            f"| model | memory | {metric} % on {real} | on the sham | gain |",
            "|---|---|---|---|---|",
        ]
        mean = full_runs(frame).groupby(["task", "model", "memory"])[metric].mean()
        for (task, model, memory), score in mean.items():
            if task != real or (sham, model, memory) not in mean.index:
                continue
            control = mean[(sham, model, memory)]
            lines.append(
                f"| {model} | `{memory}` | {100 * score:.1f} | {100 * control:.1f} | {100 * (score - control):+.1f} |"
            )
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + ("\n" if sections else "")
