"""How each memory took a changed book (the update tasks): each kind of person's score, stale
answers, and what the update cost beside writing the book whole.

An update task's record holds the first version's write (a full rebuild of the same-sized new
book costs about as much) and the update's own seconds (`cost.update_seconds`).
"""

from __future__ import annotations

import pandas as pd

from bench.report.directions import Directions, directions_for
from bench.report.tables import by_task, full_runs, header

COST = ("update_seconds", "write_seconds", "prefix_seconds")


def task_metrics(task: str, rows: pd.DataFrame, directions: Directions) -> list[str]:
    """The metrics the task declares, in its `metric_list` order, primary first, that its records hold."""
    primary = str(rows["primary_metric"].iloc[0])
    held = [m for m in directions.declared.get(task, {}) if m in rows.columns and rows[m].notna().any()]
    return [primary, *[m for m in held if m != primary]]


def updates_markdown(frame: pd.DataFrame, directions: Directions | None = None) -> str:
    """Per update task: each memory's scores (%, arrows as every table has them) and the update's seconds
    beside a full write's. A prefix encoded once (ICL's book) is written again after a change,
    so its seconds count in both, as break-even counts them in the write."""
    if "update_task" not in frame:
        return ""
    updated = full_runs(frame[frame["update_task"].fillna(False).astype(bool)])
    directions = directions or directions_for(updated["task"].unique())
    sections = []
    for task, rows in by_task(updated):
        metrics = task_metrics(str(task), rows, directions)
        shown = [header(f"{m} %", directions, str(task), m) for m in metrics]
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
