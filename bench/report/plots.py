"""The two pictures of the three memories: accuracy against what it costs to read and to write."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

COLORS = {"none": "#7f7f7f", "icl": "#1f77b4", "rag": "#2ca02c", "lora": "#d62728"}


def _scatter(frame: pd.DataFrame, x: str, xlabel: str, title: str, path: Path) -> None:
    tasks = sorted(frame["task"].unique())
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = frame[frame["task"] == task]
        metric = rows["primary_metric"].iloc[0]
        for row in rows.itertuples(index=False):
            values = row._asdict()
            y = 100 * values[metric]
            err = values.get(f"{metric}_stderr")
            color = COLORS.get(row.memory.split("(")[0], "#9467bd")
            ax.errorbar(
                values[x],
                y,
                yerr=None if err is None or pd.isna(err) else 100 * err,
                fmt="o",
                color=color,
                capsize=3,
                markersize=7,
            )
            ax.annotate(row.memory, (values[x], y), textcoords="offset points", xytext=(6, 6), fontsize=8)
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_ylim(-5, 105)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{metric} (%)")
        ax.set_title(f"{task}: {title}", fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_vs_context(frame: pd.DataFrame, path: Path) -> None:
    _scatter(frame, "context_tokens_per_query", "context tokens per query (symlog)", "accuracy vs read context", path)


def plot_accuracy_vs_write_cost(frame: pd.DataFrame, path: Path) -> None:
    _scatter(frame, "write_seconds", "seconds to write the memory (symlog)", "accuracy vs write cost", path)
