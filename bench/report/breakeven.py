"""When each memory pays off: total cost = write + n x read, from records alone.

A memory that trains (LoRA) pays up front and reads cheaply; one that reads long contexts (ICL)
pays nothing up front and much per question (its corpus encoded once into a cache counts as its
write, in seconds; FLOPs count the context for every question, as a reader without that cache
would). For each pair of memories on a task, the number of
questions at which their total costs cross, in seconds and in FLOPs, beside each one's score;
and, as the number of questions grows, which memories are on the front of (total cost, score):
no other memory is both cheaper and better at that workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.report.directions import Directions, directions_for
from bench.report.mdtext import md_code, md_plain
from bench.report.pareto import pareto_front
from bench.report.tables import by_task, full_runs
from bench.report.traits import with_traits

WORKLOADS = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
UNITS = {"seconds": ("write_seconds", "seconds_per_query"), "flops": ("write_flops", "read_flops_per_query")}


@dataclass(frozen=True)
class Cost:
    """One memory's cost model on a task (mean over its seeds): a fixed write and a per-question read."""

    memory: str
    score: float
    write: float
    read: float

    def total(self, questions: float) -> float:
        return self.write + questions * self.read


def cost_models(rows: pd.DataFrame, unit: str) -> list[Cost]:
    """Each memory of one task and model, its primary score and cost in `unit` (seconds or flops).
    Partial runs (`limit`) are left out: their score is not the task's."""
    write, read = UNITS[unit]
    metric = rows["primary_metric"].iloc[0]
    full = full_runs(rows)
    full = full.assign(read_flops_per_query=full["read_flops"] / full["n_queries"].clip(lower=1))
    if "prefix_seconds" in full:  # a shared prefix encoded once is written, as an index is built
        full = full.assign(write_seconds=full["write_seconds"] + full["prefix_seconds"].fillna(0.0))
    models = []
    for memory, mine in full.groupby("memory", sort=False):
        models.append(
            Cost(str(memory), float(mine[metric].mean()), float(mine[write].mean()), float(mine[read].mean()))
        )
    return models


def crossing(a: Cost, b: Cost) -> float | None:
    """Questions after which the dearer-to-write of the two is the cheaper in total; None when
    one is cheaper (or equal) at every workload."""
    if a.write == b.write or a.read == b.read or (a.write < b.write) == (a.read < b.read):
        return None
    return (b.write - a.write) / (a.read - b.read)


def front_at(models: list[Cost], questions: float, higher_is_better: bool) -> list[Cost]:
    """The memories no other beats on both total cost and score at this workload, cheapest first."""
    picked = pareto_front([m.total(questions) for m in models], [m.score for m in models], higher_is_better)
    return [models[i] for i in picked]


def show_questions(n: float) -> str:
    return f"{n:,.0f}" if n >= 1 else "< 1"


def breakeven_markdown(frame: pd.DataFrame, directions: Directions | None = None) -> str:
    """Per task and model: the crossings of every pair (seconds and FLOPs), then the front of
    (total seconds, score) at growing workloads ("which memory for my workload")."""
    directions = directions or directions_for(frame["task"].unique())
    sections = []
    for task, task_rows in by_task(frame):
        for model, rows in task_rows.groupby("model"):
            metric = rows["primary_metric"].iloc[0]
            higher = directions.higher_is_better(str(task), metric)
            seconds, flops = cost_models(rows, "seconds"), cost_models(rows, "flops")
            if len(seconds) < 2:
                continue
            lines = [
                f"### {md_plain(task)}, {md_plain(model)}: when each memory pays off",
                "",
                "Total cost = write + n × read. Crossings (n questions; after it the first memory is cheaper):",
                "",
                f"| memory | {metric} % | write s | read s/q | vs | crosses at n (seconds) | crosses at n (FLOPs) |",
                "|---|---|---|---|---|---|---|",
            ]
            for i, a in enumerate(seconds):
                for j, b in enumerate(seconds):
                    if j <= i:
                        continue
                    by_s, by_f = crossing(a, b), crossing(flops[i], flops[j])
                    if by_s is None and by_f is None:
                        continue
                    first, other = (a, b) if a.write > b.write else (b, a)
                    lines.append(
                        f"| {md_code(first.memory)} | {100 * first.score:.1f} | {first.write:.1f} | {first.read:.3f} | "
                        f"{md_code(other.memory)} | {show_questions(by_s) if by_s is not None else '–'} | "
                        f"{show_questions(by_f) if by_f is not None else '–'} |"
                    )
            lines += [
                "",
                "Which memory for my workload (seconds): the memories no other beats on both total seconds and score, "
                "cheapest first.",
                "",
                "| questions | front: memory (score %, total s) |",
                "|---|---|",
            ]
            for n in WORKLOADS:
                front = front_at(seconds, n, higher)
                cells = ", ".join(f"{md_code(m.memory)} ({100 * m.score:.1f}, {m.total(n):,.0f})" for m in front)
                lines.append(f"| {n:,} | {cells} |")
            sections.append("\n".join(lines))
    return "\n\n".join(sections) + ("\n" if sections else "")


def plot_breakeven(frame: pd.DataFrame, path: Path) -> None:
    """Total seconds against questions, one line per memory, one panel per task (first model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = by_task(with_traits(frame))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    grid = [10 ** (k / 8) for k in range(49)]  # 1 to a million questions, smooth on log axes
    for ax, (task, rows) in zip(axes[0], tasks, strict=True):
        first = rows[rows["model"] == rows["model"].iloc[0]]
        colors = dict(zip(first["memory"], first["memory_color"], strict=True))
        for m in cost_models(first, "seconds"):
            totals = [max(m.total(n), 1e-3) for n in grid]
            ax.plot(grid, totals, label=f"{m.memory} ({100 * m.score:.0f}%)", color=colors.get(m.memory))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("questions asked")
        ax.set_ylabel("total seconds (write + reads)")
        ax.set_title(str(task), fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
