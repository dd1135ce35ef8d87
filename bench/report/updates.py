"""How each memory took a changed book (the update tasks): each kind of person's score, stale
answers, and what the update cost beside writing the book whole.

An update task's record holds the first version's write (a full rebuild of the same-sized new
book costs about as much) and the update's own seconds (`cost.update_seconds`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.report.directions import default_manager
from bench.report.tables import by_task, full_runs

COST = ("update_seconds", "write_seconds", "prefix_seconds")


def task_metrics(task: str, rows: pd.DataFrame, manager: Any) -> list[tuple[str, bool]]:
    """(metric, higher is better) in the task's `metric_list` order, primary first, for the
    metrics its records hold."""
    from bench.harness.taskspec import task_spec

    spec = task_spec(manager, task)
    held = [m for m in spec.higher_is_better if m in rows.columns and rows[m].notna().any()]
    ordered = [spec.primary_metric, *[m for m in held if m != spec.primary_metric]]
    return [(m, spec.is_higher_better(m)) for m in ordered]


def updates_markdown(frame: pd.DataFrame, manager: Any = None) -> str:
    """Per update task: each memory's scores (%; ↓: lower is better) and the update's seconds
    beside a full write's. A prefix encoded once (ICL's book) is written again after a change,
    so its seconds count in both, as break-even counts them in the write."""
    if "update_task" not in frame:
        return ""
    manager = manager if manager is not None else default_manager()
    sections = []
    for task, rows in by_task(full_runs(frame[frame["update_task"].fillna(False).astype(bool)])):
        directions = task_metrics(str(task), rows, manager)
        metrics = [m for m, _ in directions]
        shown = [f"{m} %" + ("" if higher else " ↓") for m, higher in directions]
        lines = [
            f"### {task}: after the update",
            "",
            "| model | memory | " + " | ".join(shown) + " | update s | full write s |",
            "|---|---|" + "---|" * (len(metrics) + 2),
        ]
        rows = rows.assign(prefix_seconds=rows["prefix_seconds"].fillna(0.0) if "prefix_seconds" in rows else 0.0)
        mean = rows.sort_values("memory_order").groupby(["model", "memory"], sort=False)[[*metrics, *COST]].mean()
        for (model, memory), row in mean.iterrows():
            scores = " | ".join("–" if pd.isna(row[m]) else f"{100 * row[m]:.1f}" for m in metrics)
            update, write = row["update_seconds"] + row["prefix_seconds"], row["write_seconds"] + row["prefix_seconds"]
            lines.append(f"| {model} | `{memory}` | {scores} | {update:.1f} | {write:.1f} |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + ("\n" if sections else "")
