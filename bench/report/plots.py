"""The pictures of the memories: accuracy against what it costs to read and to write."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from bench.core.metrics import arrow, stderr_column
from bench.report.directions import Directions, directions_for
from bench.report.pareto import pareto_front
from bench.report.traits import with_traits

MAX_INLINE_LABELS = 6


def scatter(
    frame: pd.DataFrame,
    x: str,
    xlabel: str,
    title: str,
    path: Path,
    pareto: bool = False,
    directions: Directions | None = None,
) -> None:
    """One panel per task: each row a point with its stderr in its memory's colour, labelled by
    `label` or memory; the Pareto front (`x` is a cost) follows the task's primary metric's direction."""
    frame = with_traits(frame)
    directions = directions or directions_for(frame["task"].unique())
    tasks = sorted(frame["task"].unique())
    most = int(frame.groupby("task").size().max())
    keyed = most > MAX_INLINE_LABELS  # many points: number them and list the labels under the panel
    height = 4.2 + (0.16 * most if keyed else 0.0)
    fig, axes = plt.subplots(1, len(tasks), figsize=(max(5.5, 8.0 if keyed else 0) * len(tasks), height), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = frame[frame["task"] == task].reset_index(drop=True)
        metric = rows["primary_metric"].iloc[0]
        higher = directions.higher_is_better(task, metric)
        labels = rows["label"] if "label" in rows else rows["memory"]
        if keyed:
            key = "\n".join(f"{i + 1:>2}  {label}" for i, label in enumerate(labels))
            ax.text(0.0, -0.16, key, transform=ax.transAxes, va="top", fontsize=7, family="monospace")
            labels = pd.Series([str(i + 1) for i in range(len(rows))])
        for i, row in rows.iterrows():
            y = 100 * row[metric]
            err = row.get(stderr_column(metric))
            ax.errorbar(
                row[x],
                y,
                yerr=None if err is None or pd.isna(err) else 100 * err,
                fmt="o",
                color=row["memory_color"],
                capsize=3,
                markersize=7,
            )
            ax.annotate(labels[i], (row[x], y), textcoords="offset points", xytext=(6, 6), fontsize=8)
        if pareto:
            front = pareto_front(list(rows[x]), list(rows[metric]), higher_is_better=higher)
            ax.step(
                [rows[x][i] for i in front],
                [100 * rows[metric][i] for i in front],
                where="post",
                color="black",
                alpha=0.5,
                linestyle="--",
                marker="o",
                markersize=13,
                markerfacecolor="none",
                label="Pareto front",
            )
            ax.legend(loc="center right", fontsize=8)
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(-0.3, max(10.0, 4.0 * float(rows[x].max())))  # room for the labels
        ax.set_ylim(-5, 112)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{metric} (%) {arrow(higher)}")
        ax.set_title(f"{task}: {title}", fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_accuracy_vs_context(frame: pd.DataFrame, path: Path, directions: Directions | None = None) -> None:
    scatter(
        frame,
        "context_tokens_per_query",
        "context tokens per query (symlog)",
        "accuracy vs read context",
        path,
        directions=directions,
    )


def plot_accuracy_vs_write_cost(frame: pd.DataFrame, path: Path, directions: Directions | None = None) -> None:
    scatter(
        frame,
        "write_seconds",
        "seconds to write the memory (symlog)",
        "accuracy vs write cost",
        path,
        directions=directions,
    )
