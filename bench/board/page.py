"""The leaderboard: validated submissions -> `leaderboard/README.md` and a static `site/index.html`.

Only submissions that pass `bench.board.validate` are shown; the page needs no server (open it
from disk). It opens on the overview (one row per model and memory, by mean win rate; see
`bench.board.overview`), then each task is its own section: its table, ranked, and its plots.
Tables sort by clicking a header; select boxes filter by model, memory and task. Every name
on it comes from a submitter and is escaped.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd

from bench.board.columns import BOARD_COLUMNS, LABELS, OVERVIEW_COLUMNS, Column, header, overview_header
from bench.board.markdown import board_markdown
from bench.board.overview import aggregate_note, overview_frame
from bench.board.rows import board_frame, ranked, with_board_columns
from bench.board.template import PAGE
from bench.report.depth import cell, depth_tables
from bench.report.directions import Directions, directions_for
from bench.report.plots import scatter
from bench.report.tables import by_task

__all__ = ["board_html", "board_markdown", "build_board", "write_board"]


def sort_value(column: str, row: pd.Series) -> str:
    """A cell's `data-value`: the raw value; an unranked row's rank sorts after every rank."""
    value = row.get(column)
    if column == "rank" and not row.get("ranked_row", True):
        return "Infinity"
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""  # unmeasured cells sort together
    return html.escape(str(value if not isinstance(value, float) else round(value, 9)))


def html_table(heads: list[str], rows: pd.DataFrame, columns: list[Column], css: str) -> str:
    """A sortable table whose rows carry their model and memory, for the filters."""
    head = "".join(
        f'<th class="{"text" if col in LABELS else "num"}" data-type="{"text" if col in LABELS else "number"}">'
        f"{html.escape(h)}</th>"
        for (col, _, _), h in zip(columns, heads, strict=True)
    )
    body = "".join(
        f'<tr class="{"full" if row.get("ranked_row", True) else "unranked"}" '
        f'data-model="{html.escape(str(row["model"]))}" '
        f'data-memory="{html.escape(str(row["memory"]))}">'
        + "".join(
            f'<td class="{"text" if col in LABELS else "num"}" data-value="{sort_value(col, row)}">'
            f"{html.escape(fmt(row))}</td>"
            for col, _, fmt in columns
        )
        + "</tr>"
        for _, row in rows.iterrows()
    )
    return f'<table class="board {css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def filters_html(frame: pd.DataFrame) -> str:
    """Select boxes for model, memory and task; the empty value shows all."""
    boxes = []
    for name, values in (
        ("model", sorted(frame["model"].astype(str).unique())),
        ("memory", list(dict.fromkeys(frame.sort_values(["memory_order", "memory"])["memory"].astype(str)))),
        ("task", [str(task) for task, _ in by_task(frame)]),
    ):
        options = "".join(f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in values)
        boxes.append(
            f'<label>{name} <select id="filter-{name}" data-filter="{name}">'
            f'<option value="">all</option>{options}</select></label>'
        )
    return f'<nav class="filters">{"".join(boxes)}</nav>'


def overview_html(frame: pd.DataFrame, directions: Directions) -> str:
    overview = overview_frame(frame, directions)
    if overview.empty:
        table = "<p>No full runs yet: the overview ranks full runs only (see the tasks below).</p>"
    else:
        heads = [overview_header(col, h, directions) for col, h, _ in OVERVIEW_COLUMNS]
        note = html.escape(aggregate_note(overview, frame))
        table = html_table(heads, overview, OVERVIEW_COLUMNS, "overview") + f'<p class="note">{note}</p>'
    return f'<section id="overview"><h2>Overview: all tasks</h2>{table}</section>'


def board_html(frame: pd.DataFrame, plots: dict[str, list[str]], directions: Directions | None = None) -> str:
    """The page: filters, the overview, then one section per task (its ranked table and plots)."""
    from bench.report.traits import with_traits

    frame = with_traits(with_board_columns(frame))
    directions = directions or directions_for(frame["task"].unique())
    sections = [overview_html(frame, directions), *depth_html(frame[frame["ranked_row"]])]
    for task, rows in by_task(frame):
        metric, questions = rows["primary_metric"].iloc[0], int(rows["questions"].max())
        heads = [header(col, h, str(task), metric, directions) for col, h, _ in BOARD_COLUMNS]
        table = html_table(heads, ranked(rows, str(task), metric, directions), BOARD_COLUMNS, "task")
        images = "".join(f'<img src="{html.escape(n)}" alt="{html.escape(n)}">' for n in plots.get(str(task), []))
        if not images:
            images = "<p>No plot: no ranked row yet (partial and pending rows are not ranked).</p>"
        name = html.escape(str(task))
        sections.append(
            f'<section class="task" data-task="{name}"><h2>{name}</h2>'
            f"<p>{html.escape(metric)} · {questions} questions · {order_note(rows)}</p>"
            f'{table}<div class="plots">{images}</div></section>'
        )
    return PAGE.replace("{{filters}}", filters_html(frame)).replace("{{sections}}", "\n".join(sections))


def depth_html(frame: pd.DataFrame) -> list[str]:
    """The depth view (`bench.report.depth`): per corpus, each memory's score at each level."""
    sections = []
    for table in depth_tables(frame):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["model", "memory", *(c.header for c in table.columns)])
        body = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(str(x))}</td>" for x in (model, memory))
            + "".join(f"<td>{cell(scores[c.header], table.stderrs.loc[(model, memory)][c.header])}</td>"
                      for c in table.columns)
            + "</tr>"
            for (model, memory), scores in table.scores.iterrows()
        )  # fmt: skip
        sections.append(
            f'<section class="depth"><h2>How deep is the memory? {html.escape(table.title)}</h2>'
            f'<table class="depth"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>'
        )
    return sections


def order_note(rows: pd.DataFrame) -> str:
    """How a task's table is ordered, naming the unranked rows when there are any."""
    partial = int(rows["partial"].sum())
    pending = int((~rows["partial"] & ~rows["ranked_row"]).sum())
    after = [f"{n} {what} {'rows' if n > 1 else 'row'} ({why})" for n, what, why in (
        (pending, "pending", "not yet reproduced in full"), (partial, "partial", "run with --limit")) if n]  # fmt: skip
    if not after:
        return "ranked by score"
    return f"rows reproduced in full ranked by score; {' and '.join(after)} after them, unranked"


def file_stem(task: str) -> str:
    """A task name as a file name: a submitted name never leaves the site folder or breaks a URL."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", task).lstrip(".") or "task"


def draw_plots(frame: pd.DataFrame, site: Path, directions: Directions) -> dict[str, list[str]]:
    """Per task, accuracy against cost and against context for its ranked rows."""
    plots: dict[str, list[str]] = {}
    for task, rows in by_task(frame[frame["ranked_row"]]):
        several = rows["model"].nunique() > 1
        label = rows["memory"].astype(str) + (" · " + rows["model"].astype(str) if several else "")
        labelled = rows.assign(label=label.str.replace("$", r"\$", regex=False))  # no mathtext from a name
        stem = file_stem(str(task))
        cost, context = f"{stem}_accuracy_vs_cost.png", f"{stem}_accuracy_vs_context.png"
        seconds = "seconds to write the memory and answer every question (symlog)"
        scatter(labelled, "total_seconds", seconds, "accuracy vs cost", site / cost, pareto=True, directions=directions)
        scatter(
            labelled,
            "context_tokens_per_query",
            "context tokens per query (symlog)",
            "accuracy vs context",
            site / context,
            directions=directions,
        )
        plots[str(task)] = [cost, context]
    return plots


def write_board(frame: pd.DataFrame, out: Path, directions: Directions | None = None) -> str:
    """Write `out/README.md` and `out/site/` (page and plots) for these rows; returns the Markdown."""
    site = out / "site"
    site.mkdir(parents=True, exist_ok=True)
    if frame.empty:
        text = "# KMBench leaderboard\n\nNo valid submissions yet.\n"
        (out / "README.md").write_text(text)
        empty = PAGE.replace("{{filters}}", "").replace("{{sections}}", "<p>No valid submissions yet.</p>")
        (site / "index.html").write_text(empty)
        return text
    frame = with_board_columns(frame)
    directions = directions or directions_for(frame["task"].unique())
    for old in site.glob("*_accuracy_vs_*.png"):
        old.unlink()  # a task no longer on the board leaves no plot behind
    plots = draw_plots(frame, site, directions)
    text = board_markdown(frame, directions)
    (out / "README.md").write_text(text)
    (site / "index.html").write_text(board_html(frame, plots, directions))
    return text


def build_board(submissions: Path, out: Path, reproductions: Path | None = None) -> tuple[str, list[str]]:
    """Write `out/README.md` and `out/site/` from the valid submissions; returns the Markdown and
    the refused submissions' problems. `reproductions`: the committed reruns, `<submission>.json`
    each (by default `reproduced/` beside the submissions folder)."""
    reproductions = reproductions if reproductions is not None else submissions.parent / "reproduced"
    frame, problems = board_frame(submissions, reproductions)
    return write_board(frame, out, directions=None), problems


def stale_board(submissions: Path, out: Path, reproductions: Path | None = None) -> list[str]:
    """The board's files that a rebuild would change (its Markdown, its page, the set of its
    plots): a pull request must carry the board its submissions give, nothing edited by hand."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        build_board(
            submissions, Path(tmp), reproductions if reproductions is not None else submissions.parent / "reproduced"
        )
        stale = [
            str(out / name)
            for name in ("README.md", "site/index.html")
            if not (out / name).is_file() or (out / name).read_text() != (Path(tmp) / name).read_text()
        ]
        plots = {p.name for p in (out / "site").glob("*_accuracy_vs_*.png")}
        if plots != {p.name for p in (Path(tmp) / "site").glob("*_accuracy_vs_*.png")}:
            stale.append(str(out / "site") + " (its plots)")
    return stale
