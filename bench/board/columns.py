"""The board's columns, shared by its Markdown and its page so both always show the same cells.

Each column is (frame column, header, how a row shows it); cells sort by the raw column value.
A header's arrow is its column's direction (the score's: its task's primary metric's).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from bench.board.overview import reproduced_cell, tasks_cell, win_rate_cell
from bench.board.rows import rank_cell
from bench.core.metrics import UP
from bench.report.directions import Directions
from bench.report.tables import human_bytes, retention_cell

Z95 = 1.96
Column = tuple[str, str, Callable[[pd.Series], str]]
LABELS = ("model", "memory", "submission", "reproduced")  # text columns, without a direction


def number(value: float, digits: int) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def score_cell(r: pd.Series) -> str:
    if pd.isna(r["score"]):
        return "–"
    stderr = r["score_stderr"] if not pd.isna(r["score_stderr"]) else 0
    return f"{100 * r['score']:.1f} ± {100 * Z95 * stderr:.1f}"


# A task's table. `reproduced` sits before the score so score, retention and costs stay adjacent.
BOARD_COLUMNS: list[Column] = [
    ("rank", "rank", rank_cell),
    ("model", "model", lambda r: str(r["model"])),
    ("memory", "memory", lambda r: str(r["memory"])),
    ("submission", "submission", lambda r: str(r["submission"])),
    ("reproduced", "reproduced", lambda r: str(r["reproduced"])),
    ("score", "score % (95% CI)", score_cell),
    ("retention", "retention", lambda r: retention_cell(r.get("retention"))),
    ("write_seconds", "write s", lambda r: number(r["write_seconds"], 1)),
    ("seconds_per_query", "read s/query", lambda r: number(r["seconds_per_query"], 2)),
    ("context_tokens_per_query", "context tok/query", lambda r: number(r["context_tokens_per_query"], 0)),
    ("storage_bytes", "storage", lambda r: human_bytes(r["storage_bytes"])),
    ("trainable_params", "trained params", lambda r: f"{int(r['trainable_params']):,}"),
]

# The overview. It opens with the model, as a task table opens with its rank: the order is the
# mean win rate's, shown beside it.
OVERVIEW_COLUMNS: list[Column] = [
    ("model", "model", lambda r: str(r["model"])),
    ("memory", "memory", lambda r: str(r["memory"])),
    ("win_rate", "mean win rate %", win_rate_cell),
    ("tasks", "tasks", tasks_cell),
    ("reproduced_rows", "reproduced", reproduced_cell),
    ("write_seconds", "write s", lambda r: number(r["write_seconds"], 1)),
    ("seconds_per_query", "read s/query", lambda r: number(r["seconds_per_query"], 2)),
    ("context_tokens_per_query", "context tok/query", lambda r: number(r["context_tokens_per_query"], 0)),
    ("storage_bytes", "storage", lambda r: human_bytes(r["storage_bytes"])),
]
COUNTS = ("tasks", "reproduced_rows")  # coverage and trust: shown, not ranked, so no arrow


def header(column: str, name: str, task: str, metric: str, directions: Directions) -> str:
    """A task table's header, with the arrow of its column (the score's is its task's primary metric's)."""
    if column in LABELS or column == "rank":
        return name
    return f"{name} {directions.arrow(task, metric if column == 'score' else column)}"


def overview_header(column: str, name: str, directions: Directions) -> str:
    """An overview header: the win rate is better higher, costs as everywhere."""
    if column in LABELS or column in COUNTS:
        return name
    return f"{name} {UP if column == 'win_rate' else directions.arrow('', column)}"
