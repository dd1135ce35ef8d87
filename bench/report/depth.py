"""The depth view: how far from the written wording each memory still answers.

Tasks over one corpus can ask its facts at several levels (`metadata.level`: verbatim,
paraphrase, reverse, multi_hop; `bench.harness.taskspec.LEVELS`). A score of 100% at the
verbatim level can be recall of the training line; the other levels say whether the memory
holds the fact. This view puts each memory's primary score at each level side by side: one
table per corpus (tasks grouped by the corpus hash their records carry), rows model x memory,
columns levels. `depth_columns` adds the level and the corpus to each record's row where
records are loaded (`bench.report.tables.load_table`); `depth_tables` is the view as data, for
any page (the leaderboard's too), `depth_markdown` and `plot_depth` render it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

from bench.core.errors import UserError
from bench.core.metrics import stderr_column
from bench.harness.taskspec import LEVELS, natural_key
from bench.report.directions import Directions, default_manager, directions_for
from bench.report.mdtext import md_code
from bench.report.traits import with_traits
from bench.run.record import RunRecord

LEVEL = "level"
CORPUS = "corpus_sha256"
LEVEL_COLORS = dict(zip(LEVELS, ("#4c72b0", "#dd8452", "#55a868", "#c44e52"), strict=True))


@cache
def level_of(task: str) -> str | None:
    """A task's `metadata.level` from its spec; None when it names none or is not found here."""
    from bench.harness.taskspec import task_spec

    try:
        return task_spec(default_manager(), task).level
    except (KeyError, TypeError, UserError, OSError, ValueError):
        return None


@cache
def corpus_of(task: str) -> str | None:
    """The hash of a task's corpus, for rows that were not loaded from records."""
    from bench.harness.taskspec import task_spec

    try:
        return task_spec(default_manager(), task).corpus().sha256
    except (KeyError, TypeError, UserError, OSError, ValueError):
        return None


def depth_columns(record: RunRecord) -> dict[str, str | None]:
    """The columns this view needs of a record's row: its task's level and its corpus hash."""
    return {LEVEL: level_of(record.task.name), CORPUS: record.task.corpus_sha256}


def with_levels(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with `level` and `corpus_sha256`; rows built without them get their tasks'."""
    missing = {LEVEL: level_of, CORPUS: corpus_of}
    added = {c: frame["task"].map(lambda t, f=f: f(str(t))) for c, f in missing.items() if c not in frame}
    return frame.assign(**added) if added else frame


@dataclass(frozen=True)
class DepthColumn:
    """One column of a depth table: a task at a level, scored by its primary metric."""

    task: str
    level: str
    metric: str
    header: str


@dataclass(frozen=True)
class DepthTable:
    """One corpus's view. `scores` and `stderrs` are indexed by (model, memory) in the memories'
    order, one column per `columns` header, values in [0, 1]; a cell is the mean over seeds, its
    stderr lm-eval's when one run made it and NaN when seeds were pooled; NaN: not run."""

    title: str
    columns: tuple[DepthColumn, ...]
    scores: pd.DataFrame
    stderrs: pd.DataFrame
    colors: dict[str, str]  # memory label -> its colour


def headers(tasks: list[tuple[str, str, str]]) -> list[str]:
    """(task, level, metric) -> a column header: the level, with the metric where a level holds
    tasks scored differently, and with the task where that still repeats."""
    out = []
    for task, level, metric in tasks:
        same = [t for t in tasks if t[1] == level]
        if len(same) == 1:
            out.append(level)
        elif sum(t[2] == metric for t in same) == 1:
            out.append(f"{level} ({metric})")
        else:
            out.append(f"{level} ({task})")
    return out


def depth_tables(frame: pd.DataFrame) -> list[DepthTable]:
    """A table per corpus whose tasks span more than one level, in the order of their first task."""
    frame = with_traits(with_levels(frame))
    frame = frame[frame[LEVEL].notna() & frame[CORPUS].notna()]
    tables = []
    for _, rows in frame.groupby(CORPUS, sort=False):
        if rows[LEVEL].nunique() < 2:
            continue
        tasks = sorted(
            {(str(r.task), str(r.level), str(r.primary_metric)) for r in rows.itertuples()},
            key=lambda t: (LEVELS.index(t[1]), natural_key(t[0])),
        )
        columns = tuple(DepthColumn(*t, header=h) for t, h in zip(tasks, headers(tasks), strict=True))
        order = rows.sort_values(["model", "memory_order", "memory"])[["model", "memory"]].drop_duplicates()
        index = pd.MultiIndex.from_frame(order)
        scores = pd.DataFrame(index=index, columns=[c.header for c in columns], dtype=float)
        stderrs = scores.copy()
        for column in columns:
            mine = rows[rows["task"] == column.task]
            for (model, memory), runs in mine.groupby(["model", "memory"]):
                scores.loc[(model, memory), column.header] = runs[column.metric].mean()
                err = runs.get(stderr_column(column.metric))
                one = len(runs) == 1 and err is not None and pd.notna(err.iloc[0])
                stderrs.loc[(model, memory), column.header] = float(err.iloc[0]) if one else float("nan")
        anchor = next((c.task for c in columns if c.level == LEVELS[0]), columns[0].task)
        colors = dict(zip(rows["memory"], rows["memory_color"], strict=True))
        tables.append(DepthTable(anchor, columns, scores, stderrs, colors))
    return sorted(tables, key=lambda t: natural_key(t.title))


def cell(value: float, stderr: float) -> str:
    """A score in %, with its stderr where there is one; "–" where the run is missing."""
    if pd.isna(value):
        return "–"
    return f"{100 * value:.1f}" + ("" if pd.isna(stderr) else f" ± {100 * stderr:.1f}")


def depth_markdown(frame: pd.DataFrame, directions: Directions | None = None) -> str:
    """The depth tables as Markdown (empty when no corpus is asked at two levels or more)."""
    tables = depth_tables(frame)
    if not tables:
        return ""
    directions = directions or directions_for({c.task for t in tables for c in t.columns})
    sections = []
    for table in tables:
        heads = ["model", "memory"] + [f"{c.header} % {directions.arrow(c.task, c.metric)}" for c in table.columns]
        key = "; ".join(f"{c.header}: `{c.task}` ({c.metric})" for c in table.columns)
        lines = [f"### Depth: the knowledge of {table.title}", "", key, "", "| " + " | ".join(heads) + " |"]
        lines.append("|" + "---|" * len(heads))
        for (model, memory), scores in table.scores.iterrows():
            errs = table.stderrs.loc[(model, memory)]
            cells = [cell(scores[c.header], errs[c.header]) for c in table.columns]
            lines.append("| " + " | ".join([str(model), md_code(memory), *cells]) + " |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def tick_label(label: str) -> str:
    """A memory label broken before its config and after each field, so long labels stay narrow."""
    return label.replace("(", "\n(").replace(",", ",\n")


def plot_depth(frame: pd.DataFrame, path: Path) -> bool:
    """Grouped bars, one panel per corpus: a group per model x memory, a bar per level with its
    stderr and its value written on it. Returns False (and draws nothing) when there is no depth table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = depth_tables(frame)
    if not tables:
        return False
    widest = max(len(t.scores) for t in tables)
    fig, axes = plt.subplots(1, len(tables), figsize=(max(6.0, 1.4 * widest + 1) * len(tables), 4.4), squeeze=False)
    for ax, table in zip(axes[0], tables, strict=True):
        models = table.scores.index.get_level_values(0).unique()
        labels = [tick_label(m if len(models) == 1 else f"{mo} {m}") for mo, m in table.scores.index]
        width = 0.8 / len(table.columns)
        for k, column in enumerate(table.columns):
            x = [i + (k - (len(table.columns) - 1) / 2) * width for i in range(len(labels))]
            values = 100 * table.scores[column.header].fillna(0.0)
            errors = 100 * table.stderrs[column.header].fillna(0.0)
            color = LEVEL_COLORS[column.level]
            bars = ax.bar(x, values, width, yerr=errors, capsize=2, label=column.header, color=color)
            ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)  # a 0 is a result too: say so
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set_ylim(0, 124)  # room above 100 for the labels and the legend
        ax.set_yticks(range(0, 101, 20))
        metrics = sorted({c.metric for c in table.columns})
        ax.set_ylabel(f"{' / '.join(metrics)} (%)")
        ax.set_title(f"{table.title}: score by level", fontsize=10)
        ax.legend(fontsize=8, loc="upper center", ncol=len(table.columns), frameon=False)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return True
